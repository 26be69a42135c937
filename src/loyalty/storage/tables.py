"""The schema. Every hot table leads its key with `account_id`, so the data can be sharded by account (Citus
needs the distribution column in every key) and no hot-path statement reads across accounts. Account-local
numbers (`entry_no`, `lot_no`) come from the account's own counter, taken under the account lock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

from loyalty.core import limits


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps them as naive UTC text that sorts correctly)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; every timestamp must be aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    # The signature is TypeDecorator's; what comes back is told apart by its type, the same on every dialect.
    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Share(TypeDecorator[Decimal]):
    """A fraction 0..1 with at most four decimals, exact on both databases: NUMERIC on PostgreSQL, text on SQLite
    (whose NUMERIC would go through a float)."""

    impl = Numeric(5, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(String(12) if dialect.name == "sqlite" else Numeric(5, 4))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise ValueError("a share must be a Decimal")
        return str(value) if dialect.name == "sqlite" else value

    # The signature is TypeDecorator's; SQLite's text and PostgreSQL's Decimal are told apart by their type.
    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:  # noqa: ARG002
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)
ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite auto-increments only INTEGER PRIMARY KEY

program_versions = Table(
    "program_versions",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("effective_from", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("document", JSON, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("member_id", ID, primary_key=True, autoincrement=True),
    Column("name", String(limits.NAME)),
    Column("gender", String(limits.GENDER)),
    Column("birth_date", Date),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("attributes", JSON, nullable=False, default=dict),
    # The code the member shares to refer others; set at registration (and by migration 0008 for earlier members).
    # Nullable only because SQLite cannot add a NOT NULL column to a table with rows.
    Column("referral_code", String(limits.REFERRAL_CODE)),
    Index("ix_members_referral_code", "referral_code", unique=True),
)

member_identifiers = Table(
    "member_identifiers",
    metadata,
    Column("kind", String(16), primary_key=True),  # phone | email | card | external_id
    Column("value", String(limits.IDENTIFIER), primary_key=True),
    Column("member_id", ID, ForeignKey("members.member_id"), nullable=False, index=True),
)

consents = Table(
    "consents",
    metadata,
    Column("member_id", ID, ForeignKey("members.member_id"), primary_key=True),
    Column("kind", String(32), primary_key=True),  # personal_data | email | sms
    Column("granted", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(limits.CONSENT_SOURCE), nullable=False),
)

# Who referred whom: one row per referred member (the referee's account leads the key; a member has at most one
# referrer). pending until the referee's first order qualifies, then rewarded or void (`reason`: "cap reached").
# The terms are those of `program_version`, the version the referral was made under.
referrals = Table(
    "referrals",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),  # the referee
    Column("referrer_id", ID, nullable=False),
    Column("code", String(limits.REFERRAL_CODE), nullable=False),  # the referrer's code as it was used
    Column("status", String(16), nullable=False),  # pending | rewarded | void
    Column("program_version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime),  # when it became rewarded or void
    Column("order_key", String(limits.KEY)),  # the referee's order that qualified
    Column("new_member_points", BigInteger, nullable=False, default=0),  # credited to the referee on referral
    Column("referrer_points", BigInteger, nullable=False, default=0),  # credited to the referrer on reward
    Column("reason", Text),
    Index("ix_referrals_referrer_id_status", "referrer_id", "status"),
    Index("ix_referrals_status", "status"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("balance", BigInteger, nullable=False, default=0),
    Column("debt", BigInteger, nullable=False, default=0),  # points owed after a return found them spent
    Column("seq", BigInteger, nullable=False, default=0),  # last account-local entry/lot number
    # No reservation of the account holds points after this instant (null: none ever did). reserve() keeps it at
    # or after the end of every hold, so a checkout skips the query for held points when it has passed.
    Column("hold_until", UTCDateTime),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("entry_no", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("program_version", Integer),
    Column("rule_id", String(limits.SOURCE)),
    Column("order_key", String(limits.KEY)),
    Column("return_key", String(limits.RETURN_KEY)),
    Column("action_key", String(limits.ACTION_KEY)),
    Column("lot_no", BigInteger),
    Column("debt_delta", BigInteger, nullable=False, default=0),  # points that moved the debt, not a lot
    Column("operator", String(limits.OPERATOR)),
    Column("reason", Text),
    Column("details", JSON),
    # The KPIs read a period's entries by when they occurred; on PostgreSQL the columns they sum and group by ride
    # in the index, so a period is an index-only scan.
    Index(
        "ix_ledger_entries_occurred_at",
        "occurred_at",
        postgresql_include=["kind", "points", "program_version", "account_id"],
    ),
)

lots = Table(
    "lots",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("lot_no", BigInteger, primary_key=True, autoincrement=False),
    Column("points", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("entry_no", BigInteger, nullable=False),
    Column("program_version", Integer),
    Column("rule_id", String(limits.SOURCE)),
    Column("activated_at", UTCDateTime),  # set by the activate job; availability itself is decided by time
    # The most of an order's eligible amount this lot's points may pay (e.g. 0.5 for win-back points); null: no limit
    # beyond the program's. Returns give points back to their own lot, so the limit stays with the points.
    Column("max_share", Share),
    CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_within_points"),
    Index("ix_lots_expires_at", "expires_at"),
    Index("ix_lots_available_at", "available_at"),
)

lot_draws = Table(
    "lot_draws",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("entry_no", BigInteger, primary_key=True, autoincrement=False),
    Column("lot_no", BigInteger, primary_key=True, autoincrement=False),
    Column("points", BigInteger, nullable=False),
    Column("returned", BigInteger, nullable=False, default=0),  # given back to the lot by returns
)

orders = Table(
    "orders",
    metadata,
    Column("order_key", String(limits.KEY), primary_key=True),
    Column("account_id", ID, index=True),  # null for the orders of non-members
    Column("status", String(16), nullable=False),  # reserved | confirmed | released | cancelled
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("points_applied", BigInteger, nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("hold_points", BigInteger, nullable=False, default=0),
    Column("hold_expires_at", UTCDateTime),
    Column("earn_lots", JSON, nullable=False, default=list),  # the lots this order's points went into
    Column("spend_entry_no", BigInteger),
    Column("channel", String(limits.CHANNEL)),
    Column("store", String(limits.STORE)),
    Column("request", JSON, nullable=False),
    Column("result", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The experiment whose control group the confirmed order was in, when it withheld the whole program: such an
    # order earned nothing and counts towards no tier. Null for every other order.
    Column("program_withheld_by", String(limits.EXPERIMENT_ID)),
    Index("ix_orders_account_status", "account_id", "status"),
    # The orders of a period (KPIs); on PostgreSQL with the columns they read, so that the wide rows (their request
    # and result documents) stay unread: an index-only scan (migration 0021).
    Index(
        "ix_orders_occurred_at",
        "occurred_at",
        postgresql_include=["order_key", "status", "account_id", "channel", "store"],
    ),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_key", String(limits.KEY), ForeignKey("orders.order_key"), primary_key=True),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("account_id", ID),
    Column("line_id", String(limits.KEY), nullable=False),
    Column("sku", String(limits.SKU), nullable=False),
    Column("category", String(limits.CATEGORY)),
    Column("quantity", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("points_applied", BigInteger, nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("returned_quantity", Integer, nullable=False, default=0),
)

# A return is the caller's id within its order (tills number returns per order), so the order leads the key.
returns = Table(
    "returns",
    metadata,
    Column("order_key", String(limits.KEY), ForeignKey("orders.order_key"), primary_key=True),
    Column("return_key", String(limits.RETURN_KEY), primary_key=True),
    Column("account_id", ID),
    Column("request_hash", String(64), nullable=False),
    Column("points_taken_back", BigInteger, nullable=False),
    Column("points_given_back", BigInteger, nullable=False),
    Column("shortfall", BigInteger, nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

action_events = Table(
    "action_events",
    metadata,
    Column("action", String(limits.PROGRAM_ID), primary_key=True),
    Column("event_key", String(limits.ACTION_KEY), primary_key=True),
    Column("account_id", ID, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Index("ix_action_events_account", "account_id", "action", "occurred_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),  # the public part of the key, shown in logs
    Column("name", String(limits.API_KEY_NAME), nullable=False),
    Column("scope", String(20), nullable=False),  # checkout | admin | analytics
    Column("secret_hash", String(64), nullable=False),  # sha256 of the whole key; the key itself is never stored
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),  # the API key that sent the request
    Column("idempotency_key", String(limits.IDEMPOTENCY_KEY), primary_key=True),
    Column("method", String(10), nullable=False),
    Column("path", String(300), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

member_tiers = Table(
    "member_tiers",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("tier_id", String(limits.PROGRAM_ID), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("kept_until", UTCDateTime),  # null: kept for ever (lifetime qualification)
    Column("qualifying_value", BigInteger, nullable=False),  # at the last evaluation: minor units or orders
    Column("evaluated_at", UTCDateTime, nullable=False),
)

tier_history = Table(
    "tier_history",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("history_no", Integer, primary_key=True, autoincrement=False),
    Column("from_tier", String(limits.PROGRAM_ID)),
    Column("to_tier", String(limits.PROGRAM_ID), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("qualifying_value", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
)

viewed_products = Table(
    "viewed_products",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("sku", String(limits.SKU), primary_key=True),
    Column("viewed_at", UTCDateTime, nullable=False),  # the latest view
)

segments = Table(
    "segments",
    metadata,
    Column("segment_id", String(limits.SEGMENT_ID), primary_key=True),
    Column("name", String(limits.NAME), nullable=False),
    Column("kind", String(16), nullable=False),  # rule | static
    Column("definition", JSON, nullable=False),  # a rule segment's conditions; {} for a static list
    Column("member_count", BigInteger, nullable=False, default=0),
    Column("computed_at", UTCDateTime),  # the instant the members were computed as of (static: uploaded)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Who is in which segment, keyed by account like every hot table; the index lists a segment's members.
segment_members = Table(
    "segment_members",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("segment_id", String(limits.SEGMENT_ID), ForeignKey("segments.segment_id"), primary_key=True),
    Index("ix_segment_members_segment_id_account_id", "segment_id", "account_id"),
)

# Campaigns and personal offers (kind campaign | offer). A change makes a new revision; the revisions are kept, and
# the ledger entries a campaign produced name the revision that produced them.
campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign_id", String(limits.CAMPAIGN_ID), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(limits.NAME), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("definition", JSON, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime),
    Column("budget_points", BigInteger),
    # Points given against the budget; only kept for campaigns with a budget, whose row each confirm locks.
    Column("budget_used", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("budget_points IS NULL OR budget_used <= budget_points", name="within_budget"),
)

campaign_revisions = Table(
    "campaign_revisions",
    metadata,
    Column("campaign_id", String(limits.CAMPAIGN_ID), ForeignKey("campaigns.campaign_id"), primary_key=True),
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("definition", JSON, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# The members a campaign or offer is aimed at, when its audience is a list.
campaign_members = Table(
    "campaign_members",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("campaign_id", String(limits.CAMPAIGN_ID), ForeignKey("campaigns.campaign_id"), primary_key=True),
    Index("ix_campaign_members_campaign_id_account_id", "campaign_id", "account_id"),
)

# What each member got from each campaign: for per-member caps and the campaign's figures. Keyed by account and
# written under the member's account lock, so popular campaigns do not serialise their orders on one row.
campaign_member_usage = Table(
    "campaign_member_usage",
    metadata,
    Column("account_id", ID, primary_key=True, autoincrement=False),
    Column("campaign_id", String(limits.CAMPAIGN_ID), ForeignKey("campaigns.campaign_id"), primary_key=True),
    Column("points", BigInteger, nullable=False),
    Index("ix_campaign_member_usage_campaign_id", "campaign_id"),
)

# The outbox: domain events (core.events), written in the transaction of what they report. The dispatcher reads
# those not yet dispatched in id order, fans each out to its consumers (a delivery per webhook endpoint or message)
# and marks it dispatched in the same transaction, so each consumer gets each event once.
events = Table(
    "events",
    metadata,
    Column("event_id", ID, primary_key=True, autoincrement=True),
    Column("account_id", ID),  # null: about the whole program (terms changed)
    Column("kind", String(limits.EVENT_KIND), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("key", String(limits.EVENT_KEY)),  # unique among the account's events of the kind (core.events.Event)
    Column("data", JSON, nullable=False),
    Column("dispatched_at", UTCDateTime),
    Index("ix_events_account_id_kind_key", "account_id", "kind", "key", unique=True),
    Index("ix_events_account_id_event_id", "account_id", "event_id"),
)
# The dispatcher's queue: only the undispatched events are in this index.
Index(
    "ix_events_undispatched",
    events.c.event_id,
    postgresql_where=events.c.dispatched_at.is_(None),
    sqlite_where=events.c.dispatched_at.is_(None),
)

# The retailer's URLs that receive events, signed the Standard Webhooks way with the endpoint's secret (kept to sign;
# never returned by the API). `kinds`: the event kinds it wants ([]: every kind).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("endpoint_id", String(limits.ENDPOINT_ID), primary_key=True),
    Column("url", String(limits.URL), nullable=False),
    Column("secret", String(limits.WEBHOOK_SECRET), nullable=False),
    Column("kinds", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("description", String(limits.NAME)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per event and consumer (a webhook endpoint, a message trigger): made when the dispatcher fans the event
# out, so the unique key makes each consumer handle each event once; then claimed, attempted and retried until
# delivered, dead (out of attempts or refused for good) or skipped (a rule of contact said no, and `error` says why).
deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", ID, primary_key=True, autoincrement=True),
    Column("event_id", ID, nullable=False),
    Column("account_id", ID),
    Column("channel", String(16), nullable=False),  # webhook | email | sms
    Column("target", String(limits.ENDPOINT_ID), nullable=False),  # the endpoint's or trigger's id
    Column("status", String(16), nullable=False),  # pending | sending | delivered | dead | skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),  # when pending: not before
    Column("claimed_until", UTCDateTime),  # when sending: a worker's claim, taken over by another after it
    Column("last_attempt_at", UTCDateTime),
    Column("status_code", Integer),  # the receiver's last HTTP status (webhooks, SMS gateways)
    Column("error", Text),
    Column("response", Text),  # the start of the last response
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_deliveries_event_id_channel_target", "event_id", "channel", "target", unique=True),
    Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_deliveries_created_at", "created_at"),
)

# Every attempt of every delivery, for the delivery log.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("delivery_id", ID, primary_key=True, autoincrement=False),
    Column("attempt_no", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered | retry | dead
    Column("status_code", Integer),
    Column("error", Text),
    Column("response", Text),
    Column("duration_ms", Integer, nullable=False),
)

# Every run of a job: by the worker's scheduler (`slot`: the job and the scheduled instant, unique, so that of
# several workers one runs it and the others skip) or by hand (API, command line; no slot). A running run holds a
# claim it renews while it works; a run whose claim expired (its worker was killed) is taken over by another worker.
job_runs = Table(
    "job_runs",
    metadata,
    Column("run_id", ID, primary_key=True, autoincrement=True),
    Column("job", String(limits.JOB_NAME), nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("slot", String(limits.JOB_NAME + 40)),
    Column("trigger", String(16), nullable=False),  # schedule | api | cli
    Column("status", String(16), nullable=False),  # running | succeeded | failed
    Column("worker", String(limits.WORKER_NAME)),
    Column("attempts", Integer, nullable=False, default=1),
    Column("started_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("counts", JSON),
    Column("error", Text),
    Index("ix_job_runs_slot", "slot", unique=True),
    Index("ix_job_runs_job_started_at", "job", "started_at"),
)

# Message templates (messaging.templates: a wording per language) and the triggers that send them on an event.
message_templates = Table(
    "message_templates",
    metadata,
    Column("template_id", String(limits.ENDPOINT_ID), primary_key=True),
    Column("channel", String(16), nullable=False),  # email | sms
    Column("name", String(limits.NAME), nullable=False),
    Column("wordings", JSON, nullable=False),  # {"ru": {"subject", "html", "text"}, "en": {...}}
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

message_triggers = Table(
    "message_triggers",
    metadata,
    Column("trigger_id", String(limits.ENDPOINT_ID), primary_key=True),
    Column("event_kind", String(limits.EVENT_KIND), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("template_id", String(limits.ENDPOINT_ID), ForeignKey("message_templates.template_id"), nullable=False),
    Column("purpose", String(16), nullable=False),  # marketing | transactional
    Column("conditions", JSON, nullable=False),
    Column("delay_minutes", Integer, nullable=False),
    Column("before_expiry_days", Integer),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_message_triggers_event_kind", "event_kind"),
)
# Frequency caps count a member's messages on a channel since an instant.
Index(
    "ix_deliveries_account_id_channel_delivered_at",
    deliveries.c.account_id,
    deliveries.c.channel,
    deliveries.c.delivered_at,
)

# The stores registry: the city of each store an order names (orders.store).
stores = Table(
    "stores",
    metadata,
    Column("store_id", String(limits.STORE), primary_key=True),
    Column("city", String(limits.CITY), nullable=False),
    Column("name", String(limits.NAME)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_stores_city", "city"),
)

# Experiments: a holdout of members (assigned by a seeded hash of the member's id, so no list is stored) or a split
# of stores or cities into treatment and control; what the control group goes without, over [starts_at, ends_at).
experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", String(limits.EXPERIMENT_ID), primary_key=True),
    Column("name", String(limits.NAME), nullable=False),
    Column("kind", String(16), nullable=False),  # holdout | stores | cities
    Column("withholds", String(16), nullable=False),  # program | campaigns
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("share", Numeric(5, 4)),  # holdout: the share of members held out, in (0, 0.5]
    Column("segment_id", String(limits.SEGMENT_ID), ForeignKey("segments.segment_id")),
    Column("treatment", JSON, nullable=False),  # stores | cities: the store ids or city names with the program
    Column("control", JSON, nullable=False),  # ... and those without; [] for a holdout
    Column("created_at", UTCDateTime, nullable=False),
)
