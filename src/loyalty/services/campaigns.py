"""Campaigns and personal offers: define and change them, read them, and supply the checkout with those in force,
what it needs to know about the member, and the points each may still give.

A change makes a new revision and never touches points already given: those are ledger entries, which name the
campaign and the revision that produced them, and returns take back what the order's lines recorded.

Budgets are exact under concurrency: a confirm that earns from a campaign with a budget locks the campaign's row
(after the member's account, so locks are always taken in one order), reads what is left and records what it gave
in the same transaction. Per-member caps need no extra lock: the member's account lock already serialises them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, TextClause, bindparam, func, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.domain.campaign_document import parse_campaign
from loyalty.domain.campaigns import AudienceKind, Campaign
from loyalty.domain.checkout import Quote
from loyalty.domain.errors import Conflict, FieldProblem, InvalidInput, NotFound
from loyalty.domain.money import format_money
from loyalty.domain.program import Program
from loyalty.domain.rules import OrderContext
from loyalty.services import programs
from loyalty.services.segment_lists import references, resolve_references
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

STAMP = "campaigns.stamp"  # a settings row that changes with every campaign change, so caches know to reload
KINDS = {False: "campaign", True: "offer"}


def _label(personal: bool) -> str:
    return KINDS[personal]


# --- defining ----------------------------------------------------------------------------------------------------


def _program(uow: UnitOfWork, now: datetime) -> Program | None:
    """The program whose time zone, currency and tiers a definition is read in: the one in force, else the first
    one scheduled."""
    try:
        return programs.version_at(uow, now).program
    except programs.NoProgram:
        first = uow.conn.execute(select(t.program_versions.c.number).order_by(t.program_versions.c.number)).first()
        return programs.version(uow, first.number).program if first is not None else None


def _parse(uow: UnitOfWork, data: Mapping[str, Any], now: datetime, personal: bool, revision: int) -> Campaign:
    program = _program(uow, now)
    tiers = frozenset(level.id for level in program.tiers.levels) if program and program.tiers else frozenset()
    return parse_campaign(
        dict(data),
        timezone=program.timezone if program else ZoneInfo("UTC"),
        exponent=program.exponent if program else 2,
        personal=personal,
        revision=revision,
        tiers=tiers,
    )


def _read(
    uow: UnitOfWork, data: Mapping[str, Any], now: datetime, personal: bool, revision: int
) -> tuple[Campaign, dict[str, Any], list[int] | None]:
    """The parsed campaign, the definition to store, and the listed members (None when the audience is not a
    list); InvalidInput with every problem, including unknown segments and members."""
    if "\\u0000" in json.dumps(data, default=str):
        raise InvalidInput.at("", "must not contain NUL characters")
    problems: list[FieldProblem] = []
    campaign: Campaign | None = None
    try:
        campaign = _parse(uow, data, now, personal, revision)
    except InvalidInput as error:
        problems.extend(error.problems)
    stored = json.loads(json.dumps(data, default=str))
    listed: list[int] | None = None
    audience = data.get("audience")
    if isinstance(audience, dict) and isinstance(audience.get("segments"), list):
        wanted = [s for s in audience["segments"] if isinstance(s, str)]
        known = set(
            uow.conn.execute(select(t.segments.c.segment_id).where(t.segments.c.segment_id.in_(wanted))).scalars()
        )
        for i, segment in enumerate(wanted):
            if segment not in known:
                problems.append(FieldProblem(f"audience.segments[{i}]", f"unknown segment {segment!r}"))
    if isinstance(audience, dict) and isinstance(audience.get("members"), list):
        try:
            # A file may name members by bare ids.
            named = [
                {"member_id": r} if isinstance(r, int) and not isinstance(r, bool) else r for r in audience["members"]
            ]
            listed = resolve_references(uow, references(named, "audience.members"))
        except InvalidInput as error:
            problems.extend(error.problems)
        stored["audience"] = {"members": len(listed or [])}
    if problems:
        raise InvalidInput(problems)
    assert campaign is not None
    return campaign, stored, listed


def create(uow: UnitOfWork, data: Mapping[str, Any], now: datetime, *, personal: bool = False) -> dict[str, Any]:
    """A new campaign (or personal offer). An id already taken is a Conflict; a bad definition stores nothing."""
    campaign, stored, listed = _read(uow, data, now, personal, 1)
    if _row(uow, campaign.id) is not None:
        raise Conflict(f"{_label(personal)} {campaign.id} already exists; change it with PUT")
    uow.conn.execute(
        t.campaigns.insert().values(
            campaign_id=campaign.id,
            kind=_label(personal),
            name=campaign.name,
            revision=1,
            definition=stored,
            starts_at=campaign.schedule.starts_at,
            ends_at=campaign.schedule.ends_at,
            budget_points=campaign.budget,
            budget_used=0,
            created_at=now,
            updated_at=now,
        )
    )
    _record(uow, campaign, stored, listed, now)
    return get(uow, campaign.id, personal=personal)


def update(
    uow: UnitOfWork, campaign_id: str, data: Mapping[str, Any], now: datetime, *, personal: bool = False
) -> dict[str, Any]:
    """Replace a campaign's definition with a new revision. What it already gave stays as it was; a budget may
    not go below what was already given. The id cannot change."""
    row = _row(uow, campaign_id, personal=personal, lock=True)
    if row is None:
        raise NotFound(f"no {_label(personal)} {campaign_id}")
    if data.get("id", campaign_id) != campaign_id:
        raise InvalidInput.at("id", f"must be {campaign_id!r}, the id in the path; an id cannot change")
    campaign, stored, listed = _read(uow, {**data, "id": campaign_id}, now, personal, row.revision + 1)
    if campaign.budget is not None and campaign.budget < row.budget_used:
        raise InvalidInput.at(
            "budget_points", f"must be at least {row.budget_used}, the points the campaign has already given"
        )
    if isinstance(stored.get("audience"), dict) and "members" in stored["audience"] and listed is None:
        listed = []
    uow.conn.execute(
        sql_update(t.campaigns)
        .where(t.campaigns.c.campaign_id == campaign_id)
        .values(
            name=campaign.name,
            revision=campaign.revision,
            definition=stored,
            starts_at=campaign.schedule.starts_at,
            ends_at=campaign.schedule.ends_at,
            budget_points=campaign.budget,
            updated_at=now,
        )
    )
    uow.conn.execute(t.campaign_members.delete().where(t.campaign_members.c.campaign_id == campaign_id))
    _record(uow, campaign, stored, listed, now)
    return get(uow, campaign_id, personal=personal)


def _record(
    uow: UnitOfWork, campaign: Campaign, stored: dict[str, Any], listed: list[int] | None, now: datetime
) -> None:
    uow.conn.execute(
        t.campaign_revisions.insert().values(
            campaign_id=campaign.id, revision=campaign.revision, definition=stored, changed_at=now
        )
    )
    if listed:
        uow.conn.execute(t.campaign_members.insert(), [{"campaign_id": campaign.id, "account_id": m} for m in listed])
    _touch(uow)


def _touch(uow: UnitOfWork) -> None:
    """A new stamp, so every process reloads its campaigns at its next order."""
    _latest.clear()
    insert = postgresql.insert if uow.conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(t.settings).values(name=STAMP, value=uuid.uuid4().hex)
    uow.conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": statement.excluded.value}))


def _row(uow: UnitOfWork, campaign_id: str, *, personal: bool | None = None, lock: bool = False) -> Row[Any] | None:
    query = select(t.campaigns).where(t.campaigns.c.campaign_id == campaign_id)
    if personal is not None:
        query = query.where(t.campaigns.c.kind == _label(personal))
    return uow.conn.execute(query.with_for_update() if lock else query).first()


# --- reading -----------------------------------------------------------------------------------------------------


def _view(uow: UnitOfWork, row: Row[Any]) -> dict[str, Any]:
    given = uow.conn.execute(
        select(func.coalesce(func.sum(t.campaign_member_usage.c.points), 0), func.count()).where(
            t.campaign_member_usage.c.campaign_id == row.campaign_id
        )
    ).one()
    view = {
        "id": row.campaign_id,
        "kind": row.kind,
        "name": row.name,
        "revision": row.revision,
        "definition": row.definition,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "points_given": int(given[0]),
        "members_rewarded": int(given[1]),
        "budget_points": row.budget_points,
        "budget_left": row.budget_points - row.budget_used if row.budget_points is not None else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
    if isinstance(row.definition.get("audience"), dict) and "members" in row.definition["audience"]:
        view["members_listed"] = uow.conn.execute(
            select(func.count()).where(t.campaign_members.c.campaign_id == row.campaign_id)
        ).scalar_one()
    return view


def get(uow: UnitOfWork, campaign_id: str, *, personal: bool = False) -> dict[str, Any]:
    row = _row(uow, campaign_id, personal=personal)
    if row is None:
        raise NotFound(f"no {_label(personal)} {campaign_id}")
    return _view(uow, row)


def list_campaigns(uow: UnitOfWork, *, personal: bool = False) -> list[dict[str, Any]]:
    rows = uow.conn.execute(
        select(t.campaigns).where(t.campaigns.c.kind == _label(personal)).order_by(t.campaigns.c.campaign_id)
    )
    return [_view(uow, row) for row in rows]


def revisions(uow: UnitOfWork, campaign_id: str, *, personal: bool = False) -> list[dict[str, Any]]:
    if _row(uow, campaign_id, personal=personal) is None:
        raise NotFound(f"no {_label(personal)} {campaign_id}")
    rows = uow.conn.execute(
        select(t.campaign_revisions)
        .where(t.campaign_revisions.c.campaign_id == campaign_id)
        .order_by(t.campaign_revisions.c.revision)
    )
    return [{"revision": r.revision, "definition": r.definition, "changed_at": r.changed_at.isoformat()} for r in rows]


def offers_for(uow: UnitOfWork, member_id: int, now: datetime) -> list[dict[str, Any]]:
    """The personal offers a member has now or will have: aimed at them, enabled and not ended."""
    version = programs.version_at(uow, now)
    program = version.program
    book = _book(uow, program)
    context = _member_context(uow, book, member_id, now)
    offers = []
    for offer in book.campaigns:
        if not offer.personal or not offer.enabled:
            continue
        if offer.schedule.ends_at is not None and offer.schedule.ends_at <= now:
            continue
        if not _aimed_at(offer, context):
            continue
        offers.append(_offer_json(offer, program))
    return offers


def _aimed_at(campaign: Campaign, context: MemberContext) -> bool:
    audience = campaign.audience
    if audience.kind is AudienceKind.SEGMENTS:
        return bool(audience.ids & context.segments)
    if audience.kind is AudienceKind.MEMBERS:
        return campaign.id in context.listed
    return True


def _offer_json(offer: Campaign, program: Program) -> dict[str, Any]:
    tz = program.timezone
    what = []
    if offer.effect is not None:
        # The effect's description reads only the program's money scale from the order.
        scale = OrderContext(
            offer.schedule.starts_at,
            offer.schedule.starts_at.date(),
            None,
            None,
            0,
            True,
            program.point_value,
            program.exponent,
        )
        what.append(offer.effect.describe(scale))
    if offer.multiplier is not None:
        what.append(f"×{offer.multiplier.normalize():f} points")
    if offer.redemption is not None and offer.redemption.max_share is not None:
        what.append(f"points pay up to {(offer.redemption.max_share * 100).normalize():f}% of the order")
    if offer.redemption is not None and offer.redemption.min_check is not None:
        what.append(f"points pay from {format_money(offer.redemption.min_check, program.exponent)} {program.currency}")
    return {
        "id": offer.id,
        "name": offer.name,
        "description": offer.description,
        "benefit": "; ".join(what),
        "valid_from": offer.schedule.starts_at.astimezone(tz).isoformat(),
        "valid_until": offer.schedule.ends_at.astimezone(tz).isoformat() if offer.schedule.ends_at else None,
        "revision": offer.revision,
    }


# --- for the checkout ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """Every campaign and offer, parsed for one program's time zone and currency."""

    stamp: str
    campaigns: tuple[Campaign, ...]
    needs_segments: bool
    needs_lists: bool
    capped: frozenset[str]
    budgeted: frozenset[str]

    def in_force(self, at: datetime) -> list[Campaign]:
        return [
            c
            for c in self.campaigns
            if c.enabled and c.schedule.starts_at <= at and (c.schedule.ends_at is None or at < c.schedule.ends_at)
        ]


@dataclass
class MemberContext:
    segments: frozenset[str] = frozenset()
    listed: frozenset[str] = frozenset()
    limits: dict[str, int] = field(default_factory=dict)  # points each capped or budgeted campaign may still give


_EMPTY = Book("", (), False, False, frozenset(), frozenset())
_books: dict[tuple[str, str, int], Book] = {}
_STAMP = select(t.settings.c.value).where(t.settings.c.name == STAMP)


def _book(uow: UnitOfWork, program: Program, stamp: str | None = None, *, known: bool = False) -> Book:
    """The campaigns, parsed once per process and change: the stamp is one primary-key read (or was read along
    with the member's context, `known`)."""
    if not known:
        stamp = uow.conn.execute(_STAMP).scalar()
    latest = (str(uow.conn.engine.url), program.timezone.key, program.exponent)
    if stamp is None:
        _latest[latest] = _EMPTY
        _none_since[latest] = time.monotonic()
        return _EMPTY
    key = (stamp, program.timezone.key, program.exponent)
    book = _books.get(key)
    if book is None:
        parsed = []
        for row in uow.conn.execute(select(t.campaigns).order_by(t.campaigns.c.campaign_id)):
            definition = dict(row.definition)
            parsed.append(
                parse_campaign(
                    definition,
                    timezone=program.timezone,
                    exponent=program.exponent,
                    personal=row.kind == "offer",
                    revision=row.revision,
                )
            )
        book = Book(
            stamp,
            tuple(parsed),
            any(c.audience.kind is AudienceKind.SEGMENTS for c in parsed),
            any(c.audience.kind is AudienceKind.MEMBERS for c in parsed),
            frozenset(c.id for c in parsed if c.per_member_cap is not None),
            frozenset(c.id for c in parsed if c.budget is not None),
        )
        if len(_books) > 16:
            _books.clear()
        _books[key] = book
    _latest[latest] = book
    return book


# The book each database last showed this process: the checkout reads the member's context for it and the stamp
# in one round trip, and reloads only when the stamp says the campaigns changed.
_latest: dict[tuple[str, str, int], Book] = {}
# A database without any campaign is asked again at most once a second, so a program without campaigns pays no
# read for them; a campaign created in this process is seen at once, in another worker within the second.
NO_CAMPAIGNS_RECHECK = 1.0
_none_since: dict[tuple[str, str, int], float] = {}

# What the checkout reads about a member for the campaigns, in one round trip: the parts the campaigns in force
# need, as (kind, id, number) rows, and the stamp. Built once per combination of parts.
_PARTS = {
    "v": f"SELECT 'v' AS k, value AS id, 0 AS n FROM settings WHERE name = '{STAMP}'",
    "s": "SELECT 's' AS k, segment_id AS id, 0 AS n FROM segment_members WHERE account_id = :a",
    "l": "SELECT 'l' AS k, campaign_id AS id, 0 AS n FROM campaign_members WHERE account_id = :a",
    "u": "SELECT 'u' AS k, campaign_id AS id, points AS n FROM campaign_member_usage WHERE account_id = :a",
    "b": "SELECT 'b' AS k, campaign_id AS id, budget_points - budget_used AS n FROM campaigns "
    "WHERE budget_points IS NOT NULL",
}
_CONTEXT_QUERIES: dict[str, TextClause] = {}


def _context_query(parts: str) -> TextClause:
    query = _CONTEXT_QUERIES.get(parts)
    if query is None:
        query = _CONTEXT_QUERIES[parts] = text(" UNION ALL ".join(_PARTS[p] for p in parts))
    return query


def _parts(book: Book, active: Mapping[str, Campaign]) -> str:
    wanted = (
        ("s", book.needs_segments),
        ("l", book.needs_lists),
        ("u", book.capped & active.keys()),
        ("b", book.budgeted & active.keys()),
    )
    return "".join(p for p, needed in wanted if needed)


def _read_context(rows: Iterable[Any], book: Book, active: Mapping[str, Campaign]) -> MemberContext:
    segments, listed, used, left = set(), set(), {}, {}
    for kind, ident, number in rows:
        if kind == "s":
            segments.add(ident)
        elif kind == "l":
            listed.add(ident)
        elif kind == "u":
            used[ident] = int(number)
        elif kind == "b":
            left[ident] = int(number)
    context = MemberContext(frozenset(segments), frozenset(listed))
    for campaign_id in book.capped & active.keys():
        cap = active[campaign_id].per_member_cap
        assert cap is not None
        context.limits[campaign_id] = cap - used.get(campaign_id, 0)
    for campaign_id in book.budgeted & active.keys():
        budget_left = left.get(campaign_id, 0)
        context.limits[campaign_id] = min(budget_left, context.limits.get(campaign_id, budget_left))
    return context


def _member_context(
    uow: UnitOfWork, book: Book, member_id: int | None, at: datetime, in_force: Sequence[Campaign] | None = None
) -> MemberContext:
    if member_id is None or not book.campaigns:
        return MemberContext()
    active = {c.id: c for c in (in_force if in_force is not None else book.in_force(at))}
    parts = _parts(book, active)
    if not parts:
        return MemberContext()
    return _read_context(uow.conn.execute(_context_query(parts), {"a": member_id}), book, active)


_BUDGETS = (
    select(t.campaigns.c.campaign_id, t.campaigns.c.budget_points - t.campaigns.c.budget_used)
    .where(t.campaigns.c.campaign_id.in_(bindparam("ids", expanding=True)))
    .order_by(t.campaigns.c.campaign_id)
    .with_for_update()
)


@dataclass(frozen=True)
class Offerings:
    """What the checkout passes to the quote."""

    campaigns: list[Campaign]
    attributes: dict[str, object]
    limits: dict[str, int]
    book: Book

    def revision(self, source: str) -> int | None:
        kind, _, campaign_id = source.partition(":")
        if kind not in ("campaign", "offer"):
            return None
        return next((c.revision for c in self.campaigns if c.id == campaign_id), None)


def offerings(uow: UnitOfWork, program: Program, member_id: int | None, at: datetime) -> Offerings:
    """The campaigns in force at `at`, what they need to know about the member, and what each may still give.
    In the steady state one round trip: the member's context for the campaigns last seen, with the stamp that
    says whether they are still the campaigns."""
    key = (str(uow.conn.engine.url), program.timezone.key, program.exponent)
    guess = _latest.get(key)
    if guess is _EMPTY and time.monotonic() - _none_since.get(key, 0.0) < NO_CAMPAIGNS_RECHECK:
        return Offerings([], {}, {}, _EMPTY)
    if guess is not None and member_id is not None:
        in_force = {c.id: c for c in guess.in_force(at)}
        rows = uow.conn.execute(_context_query("v" + _parts(guess, in_force)), {"a": member_id}).all()
        stamp = next((row.id for row in rows if row.k == "v"), None)
        if (stamp or "") == guess.stamp:
            context = _read_context(rows, guess, in_force)
            return _offerings(list(in_force.values()), context, guess)
        book = _book(uow, program, stamp, known=True)
    else:
        book = _book(uow, program)
    active = book.in_force(at)
    if not active:
        return Offerings([], {}, {}, book)
    return _offerings(active, _member_context(uow, book, member_id, at, active), book)


def _offerings(active: list[Campaign], context: MemberContext, book: Book) -> Offerings:
    if not active:
        return Offerings([], {}, {}, book)
    return Offerings(active, {"segments": context.segments, "listed": context.listed}, context.limits, book)


def lock_budgets(uow: UnitOfWork, offer: Offerings, q: Quote) -> dict[str, int] | None:
    """Lock the budget rows of the budgeted campaigns this quote gives points from, in id order, and return the
    limits re-read under the lock when they are smaller than the quote assumed (the caller then quotes again);
    None when the quote stands."""
    earned = q.earned_by_rule
    ids = sorted(c.id for c in offer.campaigns if c.budget is not None and earned.get(c.source, 0) > 0)
    if not ids:
        return None
    rows = uow.conn.execute(_BUDGETS, {"ids": ids})
    fresh = dict(offer.limits)
    for campaign_id, left in rows:
        # What the quote assumed already includes the member's cap; under the lock the budget can only be smaller.
        fresh[campaign_id] = min(int(left), offer.limits[campaign_id])
    return fresh if fresh != offer.limits else None


def record_given(uow: UnitOfWork, offer: Offerings, account_id: int, q: Quote) -> None:
    """Count what a confirmed order got from each campaign: against its budget, and per member (for the cap and
    the campaign's figures)."""
    earned = q.earned_by_rule
    for campaign in offer.campaigns:
        points = earned.get(campaign.source, 0)
        if points <= 0:
            continue
        if campaign.budget is not None:
            uow.conn.execute(
                sql_update(t.campaigns)
                .where(t.campaigns.c.campaign_id == campaign.id)
                .values(budget_used=t.campaigns.c.budget_used + points)
            )
        uow.conn.execute(
            _ADD_USAGE[uow.conn.dialect.name], {"account_id": account_id, "campaign_id": campaign.id, "points": points}
        )


# Built once: one per confirm that earns from a campaign.
_ADD_USAGE = {
    name: (statement := insert(t.campaign_member_usage)).on_conflict_do_update(
        index_elements=["account_id", "campaign_id"],
        set_={"points": t.campaign_member_usage.c.points + statement.excluded.points},
    )
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def apply(uow: UnitOfWork, document: Mapping[str, Any], now: datetime) -> dict[str, list[str]]:
    """Create or change every campaign and offer of a file (`campaigns:` and `offers:` lists), all or nothing:
    each problem is reported with its place in the file. One whose definition is unchanged keeps its revision."""
    problems: list[FieldProblem] = []
    outcome: dict[str, list[str]] = {"created": [], "changed": [], "unchanged": []}
    unknown = set(document) - {"campaigns", "offers"}
    for key in sorted(unknown):
        problems.append(FieldProblem(key, "unknown section; expected campaigns and/or offers"))
    for section, personal in (("campaigns", False), ("offers", True)):
        items = document.get(section) or []
        if not isinstance(items, list):
            problems.append(FieldProblem(section, "must be a list of definitions"))
            continue
        for i, item in enumerate(items):
            try:
                outcome[_apply_one(uow, item, now, personal)].append(f"{_label(personal)}:{item['id']}")
            except InvalidInput as error:
                problems.extend(FieldProblem(f"{section}[{i}].{p.path}".rstrip("."), p.reason) for p in error.problems)
            except (Conflict, NotFound) as error:
                problems.append(FieldProblem(f"{section}[{i}]", str(error)))
    if problems:
        raise InvalidInput(problems)
    return outcome


def _apply_one(uow: UnitOfWork, item: object, now: datetime, personal: bool) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise InvalidInput.at("id", "each definition is a mapping with an id")
    row = _row(uow, item["id"])
    if row is None:
        create(uow, item, now, personal=personal)
        return "created"
    if row.kind != _label(personal):
        raise Conflict(f"{item['id']} is already a{'n' if row.kind == 'offer' else ''} {row.kind}")
    _, stored, _ = _read(uow, item, now, personal, row.revision)
    if stored == row.definition and not (isinstance(stored.get("audience"), dict) and "members" in stored["audience"]):
        return "unchanged"
    update(uow, item["id"], item, now, personal=personal)
    return "changed"
