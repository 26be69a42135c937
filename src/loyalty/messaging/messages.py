"""Messages to members: the channels' settings (secrets write-only), the rules of contact, templates (refused when
they do not render with the sample member), triggers, and what happens to a message when the dispatcher plans it
and when a worker sends it.

Planning (in `dispatch.fan_out`'s transaction): for each event of a member, each enabled trigger on its kind whose
conditions hold makes a delivery due after its delay. Sending (in a worker, outside any transaction): the trigger,
template and member are read as they are now; consent, the address, the frequency cap and the quiet hours are
checked; a message that may not go is skipped (or waits for the quiet hours to end) with the reason in the log;
else it is rendered in the member's language and handed to the SMTP relay or the SMS gateway."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from loyalty.core.events import EventKind
from loyalty.messaging import email, sms, templates, tracking
from loyalty.messaging.channels import DeliveryError
from loyalty.messaging.model import Attempt, Channel, DeliveryStatus
from loyalty.messaging.rules import (
    ADDRESS_KIND,
    CONSENT_KIND,
    MAX_DELAY_MINUTES,
    MESSAGE_CHANNELS,
    Conditions,
    Facts,
    Policy,
    Purpose,
    Trigger,
    parse_policy,
)
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from loyalty.tiers import service as tiers

SETTING = {Channel.EMAIL: "messaging.email", Channel.SMS: "messaging.sms"}
POLICY_SETTING = "messaging.policy"
HIDDEN = "********"  # what the API shows for a secret that is set


# Channel settings


def _read_setting(uow: UnitOfWork, name: str) -> dict[str, Any] | None:
    value = uow.conn.execute(select(t.settings.c.value).where(t.settings.c.name == name)).scalar()
    return json.loads(value) if value else None


def _write_setting(uow: UnitOfWork, name: str, data: dict[str, Any]) -> None:
    insert = postgresql.insert if uow.conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(t.settings).values(name=name, value=json.dumps(data, sort_keys=True))
    uow.conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": statement.excluded.value}))


def set_channel(uow: UnitOfWork, channel: Channel, config: dict[str, Any]) -> dict[str, Any]:
    """Configure email (SMTP) or SMS (an HTTP gateway). A secret left out (the SMTP password, a header or query
    value given as the hidden marker) keeps the stored one, so a form that shows the settings can send them back."""
    stored = _read_setting(uow, SETTING[channel]) or {}
    config = dict(config)
    if channel is Channel.EMAIL:
        if config.get("password") in (None, HIDDEN) and "password" in stored:
            config["password"] = stored["password"]
    else:
        for part in ("headers", "query"):
            kept = stored.get(part) or {}
            config[part] = {k: (kept.get(k, v) if v == HIDDEN else v) for k, v in (config.get(part) or {}).items()}
    _build(channel, config)  # refused here, naming the field, rather than when a message is due
    _write_setting(uow, SETTING[channel], config)
    return channel_view(uow, channel)


def _build(channel: Channel, config: dict[str, Any]) -> email.SmtpSettings | sms.SmsGateway:
    try:
        if channel is Channel.EMAIL:
            return email.SmtpSettings(**config)
        return sms.SmsGateway(**config)
    except (TypeError, ValueError) as error:
        raise InvalidInput.at(channel.value, str(error)) from None


def channel_view(uow: UnitOfWork, channel: Channel) -> dict[str, Any]:
    config = _read_setting(uow, SETTING[channel])
    if config is None:
        raise NotFound(f"the {channel.value} channel is not configured")
    shown = dict(config)
    if channel is Channel.EMAIL:
        shown["password"] = HIDDEN if config.get("password") else None
    else:
        for part in ("headers", "query"):
            shown[part] = dict.fromkeys(config.get(part) or {}, HIDDEN)
    return {"channel": channel.value, "settings": shown}


def _channel(uow: UnitOfWork, channel: Channel) -> email.SmtpSettings | sms.SmsGateway | None:
    config = _read_setting(uow, SETTING[channel])
    return _build(channel, config) if config is not None else None


# The rules of contact


def set_policy(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    parse_policy(data)
    _write_setting(uow, POLICY_SETTING, data)
    return policy_view(uow)


def policy(uow: UnitOfWork) -> Policy:
    return parse_policy(_read_setting(uow, POLICY_SETTING) or {})


def policy_view(uow: UnitOfWork) -> dict[str, Any]:
    data = _read_setting(uow, POLICY_SETTING) or {}
    return {
        "quiet_hours": data.get("quiet_hours"),
        "caps": data.get("caps") or {},
        "transactional_needs_consent": bool(data.get("transactional_needs_consent", False)),
        "default_language": data.get("default_language", "ru"),
        "public_url": data.get("public_url"),
        "tracking": bool(data.get("tracking", True)),
    }


# Templates


def _template(channel: Channel, wordings: dict[str, Any]) -> templates.Template:
    return templates.Template(
        {
            language: templates.Wording(
                w["text"], w.get("subject"), w.get("html") if channel is Channel.EMAIL else None
            )
            for language, w in wordings.items()
        }
    )


def save_template(
    uow: UnitOfWork, template_id: str, channel: Channel, name: str, wordings: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Create or replace a template; refused (naming the part and line) unless every wording renders with the
    sample member, and unless an email's has a subject."""
    if channel not in MESSAGE_CHANNELS:
        raise InvalidInput.at("channel", "must be email or sms")
    problems = []
    if channel is Channel.EMAIL:
        problems = [
            FieldProblem(f"wordings.{language}.subject", "an email needs a subject")
            for language, w in wordings.items()
            if not w.get("subject")
        ]
    else:
        problems = [
            FieldProblem(f"wordings.{language}.{part}", "an SMS has only a text")
            for language, w in wordings.items()
            for part in ("subject", "html")
            if w.get(part) is not None
        ]
    try:
        templates.check(_template(channel, wordings), path="wordings")
    except InvalidInput as error:
        problems.extend(error.problems)
    if problems:
        raise InvalidInput(problems)
    row = uow.conn.execute(select(t.message_templates).where(t.message_templates.c.template_id == template_id)).first()
    values = {"channel": channel.value, "name": name, "wordings": wordings, "updated_at": now}
    if row is None:
        uow.conn.execute(t.message_templates.insert().values(template_id=template_id, created_at=now, **values))
    else:
        if row.channel != channel.value and _triggers_of(uow, template_id):
            raise Conflict(
                f"template {template_id} is used by triggers on {row.channel}; it stays an {row.channel} one"
            )
        uow.conn.execute(
            update(t.message_templates).where(t.message_templates.c.template_id == template_id).values(values)
        )
    return get_template(uow, template_id)


def _template_row(uow: UnitOfWork, template_id: str) -> Any:
    row = uow.conn.execute(select(t.message_templates).where(t.message_templates.c.template_id == template_id)).first()
    if row is None:
        raise NotFound(f"no template {template_id}")
    return row


def template_json(row: Any) -> dict[str, Any]:
    return {
        "template_id": row.template_id,
        "channel": row.channel,
        "name": row.name,
        "wordings": row.wordings,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def get_template(uow: UnitOfWork, template_id: str) -> dict[str, Any]:
    return template_json(_template_row(uow, template_id))


def list_templates(uow: UnitOfWork) -> list[dict[str, Any]]:
    rows = uow.conn.execute(select(t.message_templates).order_by(t.message_templates.c.template_id))
    return [template_json(row) for row in rows]


def delete_template(uow: UnitOfWork, template_id: str) -> dict[str, Any]:
    removed = get_template(uow, template_id)
    if used := _triggers_of(uow, template_id):
        raise Conflict(f"template {template_id} is used by triggers {', '.join(used)}; remove them first")
    uow.conn.execute(t.message_templates.delete().where(t.message_templates.c.template_id == template_id))
    return removed


def _triggers_of(uow: UnitOfWork, template_id: str) -> list[str]:
    tr = t.message_triggers.c
    return list(uow.conn.execute(select(tr.trigger_id).where(tr.template_id == template_id)).scalars())


def preview(
    uow: UnitOfWork, template_id: str, language: str | None, member_id: int | None, now: datetime
) -> dict[str, Any]:
    """The template rendered for a member (their data as of now) or, without one, for the sample member."""
    row = _template_row(uow, template_id)
    channel = Channel(row.channel)
    contact = policy(uow)
    zone = programs.time_zone(uow, now)
    if member_id is None:
        variables: dict[str, Any] = dict(templates.SAMPLE_VARIABLES)
        wanted = language or contact.default_language
    else:
        member_language, variables = member_variables(uow, member_id, {}, now, contact)
        wanted = language or member_language
    rendered = templates.render(_template(channel, row.wordings), wanted, variables, zone)
    return {
        "template_id": template_id,
        "channel": channel.value,
        "language": rendered.language,
        "subject": rendered.subject,
        "html": rendered.html,
        "text": rendered.text,
    }


# Triggers


def trigger_of(row: Any) -> Trigger:
    c = row.conditions or {}
    return Trigger(
        trigger_id=row.trigger_id,
        event=EventKind(row.event_kind),
        channel=Channel(row.channel),
        template_id=row.template_id,
        purpose=Purpose(row.purpose),
        conditions=Conditions(
            tuple(c.get("tiers", ())), tuple(c.get("segments", ())), c.get("min_balance"), c.get("min_points")
        ),
        delay_minutes=row.delay_minutes,
        before_expiry_days=row.before_expiry_days,
        enabled=row.enabled,
    )


def trigger_json(row: Any) -> dict[str, Any]:
    trigger = trigger_of(row)
    return {
        "trigger_id": trigger.trigger_id,
        "event": trigger.event.value,
        "channel": trigger.channel.value,
        "template_id": trigger.template_id,
        "purpose": trigger.purpose.value,
        "conditions": trigger.conditions.as_dict(),
        "delay_minutes": trigger.delay_minutes,
        "before_expiry_days": trigger.before_expiry_days,
        "enabled": trigger.enabled,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def save_trigger(uow: UnitOfWork, trigger: Trigger, now: datetime) -> dict[str, Any]:
    """Create or replace a trigger. Its template must exist and be written for its channel."""
    if trigger.channel not in MESSAGE_CHANNELS:
        raise InvalidInput.at("channel", "must be email or sms (webhooks are endpoints: /v1/webhooks)")
    template = uow.conn.execute(
        select(t.message_templates.c.channel).where(t.message_templates.c.template_id == trigger.template_id)
    ).scalar()
    if template is None:
        raise InvalidInput.at("template_id", f"no template {trigger.template_id}")
    if template != trigger.channel.value:
        raise InvalidInput.at("template_id", f"template {trigger.template_id} is an {template} template")
    if not 0 <= trigger.delay_minutes <= MAX_DELAY_MINUTES:
        raise InvalidInput.at("delay_minutes", f"must be 0 to {MAX_DELAY_MINUTES}")
    if trigger.before_expiry_days is not None and trigger.event is not EventKind.POINTS_EXPIRING:
        raise InvalidInput.at("before_expiry_days", "applies only to points.expiring triggers")
    values = {
        "event_kind": trigger.event.value,
        "channel": trigger.channel.value,
        "template_id": trigger.template_id,
        "purpose": trigger.purpose.value,
        "conditions": trigger.conditions.as_dict(),
        "delay_minutes": trigger.delay_minutes,
        "before_expiry_days": trigger.before_expiry_days,
        "enabled": trigger.enabled,
        "updated_at": now,
    }
    tr = t.message_triggers.c
    exists = uow.conn.execute(select(tr.trigger_id).where(tr.trigger_id == trigger.trigger_id)).first()
    if exists is None:
        uow.conn.execute(t.message_triggers.insert().values(trigger_id=trigger.trigger_id, created_at=now, **values))
    else:
        uow.conn.execute(update(t.message_triggers).where(tr.trigger_id == trigger.trigger_id).values(values))
    return get_trigger(uow, trigger.trigger_id)


def get_trigger(uow: UnitOfWork, trigger_id: str) -> dict[str, Any]:
    row = uow.conn.execute(select(t.message_triggers).where(t.message_triggers.c.trigger_id == trigger_id)).first()
    if row is None:
        raise NotFound(f"no trigger {trigger_id}")
    return trigger_json(row)


def list_triggers(uow: UnitOfWork) -> list[dict[str, Any]]:
    rows = uow.conn.execute(select(t.message_triggers).order_by(t.message_triggers.c.trigger_id))
    return [trigger_json(row) for row in rows]


def delete_trigger(uow: UnitOfWork, trigger_id: str, now: datetime) -> dict[str, Any]:
    """Remove a trigger; its messages not yet sent are skipped ("trigger removed"). Returns the trigger removed."""
    removed = get_trigger(uow, trigger_id)
    d = t.deliveries.c
    skipped = uow.conn.execute(
        update(t.deliveries)
        .where(
            d.target == trigger_id,
            d.channel.in_([c.value for c in MESSAGE_CHANNELS]),
            d.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.SKIPPED.value, error="trigger removed", updated_at=now)
    ).rowcount
    uow.conn.execute(t.message_triggers.delete().where(t.message_triggers.c.trigger_id == trigger_id))
    return {**removed, "messages_skipped": skipped}


# Planning: the dispatcher's part


def plan(uow: UnitOfWork, events: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    """The message deliveries `events` (rows: event_id, account_id, kind, occurred_at, data) call for."""
    tr = t.message_triggers.c
    kinds = {event.kind for event in events if event.account_id is not None}
    if not kinds:
        return []
    triggers = [
        trigger_of(row)
        for row in uow.conn.execute(
            select(t.message_triggers).where(tr.enabled.is_(True), tr.event_kind.in_(kinds)).order_by(tr.trigger_id)
        )
    ]
    if not triggers:
        return []
    members = sorted({event.account_id for event in events if event.account_id is not None})
    facts = _facts(uow, members)
    planned = []
    for event in events:
        if event.account_id is None:
            continue
        for trigger in triggers:
            if trigger.event.value != event.kind:
                continue
            tier, segments, balance = facts.get(event.account_id, (None, frozenset(), None))
            data = event.data or {}
            seen = Facts(tier, segments, data.get("balance", balance), data.get("points"))
            if not trigger.conditions.hold(seen):
                continue
            due = trigger.due_at(event.occurred_at, data, now)
            if due is None:
                continue
            planned.append(
                {
                    "event_id": event.event_id,
                    "account_id": event.account_id,
                    "channel": trigger.channel.value,
                    "target": trigger.trigger_id,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": due,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    return planned


def _facts(uow: UnitOfWork, members: list[int]) -> dict[int, tuple[str | None, frozenset[str], int | None]]:
    """Each member's tier, segments and balance, in three queries per thousand members."""
    a, mt, sm = t.accounts.c, t.member_tiers.c, t.segment_members.c
    found: dict[int, tuple[str | None, frozenset[str], int | None]] = {}
    for start in range(0, len(members), 1000):
        chunk = members[start : start + 1000]
        balances = {
            r.account_id: r.balance
            for r in uow.conn.execute(select(a.account_id, a.balance).where(a.account_id.in_(chunk)))
        }
        held = {
            r.account_id: r.tier_id
            for r in uow.conn.execute(select(mt.account_id, mt.tier_id).where(mt.account_id.in_(chunk)))
        }
        segments: dict[int, set[str]] = {}
        for r in uow.conn.execute(select(sm.account_id, sm.segment_id).where(sm.account_id.in_(chunk))):
            segments.setdefault(r.account_id, set()).add(r.segment_id)
        for member in chunk:
            found[member] = (held.get(member), frozenset(segments.get(member, ())), balances.get(member))
    return found


# Sending: the worker's part


def member_variables(
    uow: UnitOfWork, member_id: int, data: dict[str, Any], now: datetime, contact: Policy
) -> tuple[str, dict[str, Any]]:
    """The member's language and what a template may say of them: every name of the sample member is given (None
    when there is nothing to say), filled from the member, their account and tier, and the event's data."""
    row = uow.conn.execute(select(t.members).where(t.members.c.member_id == member_id)).first()
    if row is None:
        raise NotFound(f"no member {member_id}")
    attributes = row.attributes or {}
    language = str(attributes.get("language") or contact.default_language)
    balance = uow.conn.execute(select(t.accounts.c.balance).where(t.accounts.c.account_id == member_id)).scalar()
    variables: dict[str, Any] = dict.fromkeys(templates.SAMPLE_VARIABLES)
    variables.update(name=row.name, balance=balance, currency=_currency(uow, now))
    try:
        progress = tiers.progress_of(uow, member_id, now)
    except programs.NoProgram:
        progress = None
    if progress is not None:
        variables["tier"] = progress["tier"]
        variables["tier_progress"] = progress
    if data.get("points") is not None:
        variables["points_earned"] = data["points"]
    if data.get("expires_at"):
        variables["points_expiring"] = data.get("points")
        variables["expiring_on"] = datetime.fromisoformat(str(data["expires_at"]))
    if data.get("offer_id"):
        ends = data.get("ends_at")
        variables["offer"] = {
            "title": data.get("name"),
            "code": data["offer_id"],
            "ends_on": date.fromisoformat(ends[:10]) if ends else None,
        }
    return language, variables


def _currency(uow: UnitOfWork, now: datetime) -> str | None:
    try:
        return programs.version_at(uow, now).program.currency
    except programs.NoProgram:
        return None


def sent_since(uow: UnitOfWork, member_id: int, channel: Channel, since: datetime) -> int:
    d = t.deliveries.c
    return int(
        uow.conn.execute(
            select(func.count()).where(
                d.account_id == member_id,
                d.channel == channel.value,
                d.status == DeliveryStatus.DELIVERED.value,
                d.delivered_at >= since,
            )
        ).scalar_one()
    )


class Skip(Exception):
    """A message that may not go: the reason goes to the delivery log."""


class Defer(Exception):
    def __init__(self, until: datetime, reason: str) -> None:
        self.until = until
        super().__init__(reason)


def sender(engine: Engine, channel: Channel, client: httpx.Client) -> Callable[[Any, datetime], Attempt]:
    """The worker's sender for `channel`: (claim, at) -> Attempt."""

    def send(claim: Any, at: datetime) -> Attempt:
        try:
            with UnitOfWork(engine, read_only=True) as uow:
                message = _prepare(uow, engine, claim, channel, at)
        except Skip as skip:
            return Attempt(False, 0, error=str(skip), skipped=True)
        except Defer as defer:
            return Attempt(False, 0, error=str(defer), defer_until=defer.until)
        started = time.perf_counter()
        try:
            if channel is Channel.EMAIL:
                email.send(message["settings"], message["email"])
                response = "accepted by the relay"
            else:
                answer = sms.send(message["settings"], message["to"], message["text"], client)
                response = answer.body
        except DeliveryError as error:
            return Attempt(False, _since(started), error=error.detail, permanent=error.permanent)
        return Attempt(True, _since(started), response=response)

    return send


def _since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _prepare(uow: UnitOfWork, engine: Engine, claim: Any, channel: Channel, at: datetime) -> dict[str, Any]:
    row = uow.conn.execute(select(t.message_triggers).where(t.message_triggers.c.trigger_id == claim.target)).first()
    if row is None:
        raise Skip("trigger removed")
    trigger = trigger_of(row)
    if not trigger.enabled:
        raise Skip("trigger disabled")
    member_id = claim.event.account_id
    contact = policy(uow)
    consents = {
        c.kind: c.granted for c in uow.conn.execute(select(t.consents).where(t.consents.c.member_id == member_id))
    }
    if (refusal := contact.may_contact(channel, trigger.purpose, consents.get(CONSENT_KIND[channel]))) is not None:
        raise Skip(refusal)
    address = uow.conn.execute(
        select(t.member_identifiers.c.value).where(
            t.member_identifiers.c.member_id == member_id, t.member_identifiers.c.kind == ADDRESS_KIND[channel]
        )
    ).scalar()
    if address is None:
        raise Skip(f"the member has no {ADDRESS_KIND[channel]}")
    cap = contact.caps.get(channel)
    if cap is not None and (
        over := contact.over_cap(channel, sent_since(uow, member_id, channel, at - cap.per.length))
    ):
        raise Skip(over)
    zone = programs.time_zone(uow, at)
    if contact.quiet_hours is not None and (until := contact.quiet_hours.holds(channel, at, zone)) is not None:
        raise Defer(until, f"quiet hours until {until.astimezone(zone).strftime('%H:%M')}")
    settings = _channel(uow, channel)
    if settings is None:
        raise Defer(at + timedelta(minutes=15), f"the {channel.value} channel is not configured")
    template_row = _template_row(uow, trigger.template_id)
    language, variables = member_variables(uow, member_id, claim.event.data or {}, at, contact)
    unsubscribe = None
    key = tracking.secret(engine) if contact.public_url else b""
    if contact.public_url:
        secret = key
        unsubscribe = tracking.unsubscribe_url(secret, contact.public_url, member_id, channel)
        variables["unsubscribe_url"] = unsubscribe
    try:
        rendered = templates.render(_template(channel, template_row.wordings), language, variables, zone)
    except InvalidInput as error:
        raise Skip(f"the template does not render for this member: {error}") from None
    if channel is Channel.SMS:
        assert isinstance(settings, sms.SmsGateway)
        return {"settings": settings, "to": address, "text": rendered.text}
    assert isinstance(settings, email.SmtpSettings)
    html = rendered.html
    if html is not None and contact.public_url and contact.tracking:
        html = tracking.instrument(html, key, contact.public_url, claim.delivery_id)
    message = email.compose(
        settings,
        to=address,
        subject=rendered.subject or "",
        text=rendered.text,
        html=html,
        message_id=f"d{claim.delivery_id}.e{claim.event.event_id}",
        sent_at=at,
        unsubscribe_url=unsubscribe,
    )
    return {"settings": settings, "email": message}


def message_senders(engine: Engine, client: httpx.Client) -> dict[Channel, Callable[[Any, datetime], Attempt]]:
    return {channel: sender(engine, channel, client) for channel in MESSAGE_CHANNELS}
