"""The dispatcher: from the outbox to the consumers, and from deliveries to the receivers.

`fan_out` reads the events not yet dispatched, oldest first, makes one delivery per event and consumer, and marks
the events dispatched, all in one transaction: each consumer gets each event once (the deliveries' unique key says
so too). `deliver` claims the deliveries that are due (on PostgreSQL with SKIP LOCKED, so several workers share
them), sends each outside any transaction, and records how it went: delivered, due again after a back-off, or dead.
A claim expires: a killed worker's deliveries are claimed again by another after `lease`. Sending is therefore at
least once; a receiver drops repeats by the `webhook-id` header."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random
from typing import Any

import httpx
from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.core import limits
from loyalty.core.errors import InvalidInput, NotFound
from loyalty.messaging import messages, webhooks
from loyalty.messaging.model import Attempt, Channel, DeliveryStatus, RetryPolicy
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

FAN_OUT_BATCH = 500
DELIVERY_BATCH = 20
MAX_PAGE = 1000

_D = t.deliveries.c


def fan_out(engine: Engine, now: datetime, limit: int = FAN_OUT_BATCH) -> int:
    """Dispatch up to `limit` events: a pending delivery per subscribed consumer, and the events marked dispatched.
    Returns how many events were dispatched (0: the outbox is empty)."""
    e = t.events.c
    with UnitOfWork(engine) as uow:
        events = uow.conn.execute(
            select(e.event_id, e.account_id, e.kind, e.occurred_at, e.data)
            .where(e.dispatched_at.is_(None))
            .order_by(e.event_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not events:
            return 0
        endpoints = webhooks.subscribers(uow)
        rows = [
            _new_delivery(event.event_id, event.account_id, Channel.WEBHOOK, endpoint_id, now)
            for event in events
            for endpoint_id, kinds in endpoints
            if not kinds or event.kind in kinds
        ]
        rows += messages.plan(uow, events, now)
        if rows:
            insert = postgresql.insert if uow.conn.dialect.name == "postgresql" else sqlite.insert
            uow.conn.execute(insert(t.deliveries).on_conflict_do_nothing(), rows)
        uow.conn.execute(
            update(t.events).where(e.event_id.in_([event.event_id for event in events])).values(dispatched_at=now)
        )
        uow.commit()
    return len(events)


def _new_delivery(
    event_id: int, account_id: int | None, channel: Channel, target: str, now: datetime
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "account_id": account_id,
        "channel": channel.value,
        "target": target,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt_no: int
    channel: Channel
    target: str
    event: Any  # the events row


@dataclass
class Delivered:
    """What one `deliver` call did."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    skipped: int = 0
    deferred: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "claimed": self.claimed,
            "delivered": self.delivered,
            "retrying": self.retrying,
            "dead": self.dead,
            "skipped": self.skipped,
            "deferred": self.deferred,
        }


def claim(engine: Engine, now: datetime, limit: int, lease: timedelta) -> list[Claim]:
    """Claim up to `limit` deliveries that are due (pending and due, or sending with an expired claim) until
    `now + lease`, counting the attempt. Committed before anything is sent."""
    due = or_(
        and_(_D.status == DeliveryStatus.PENDING.value, _D.next_attempt_at <= now),
        and_(_D.status == DeliveryStatus.SENDING.value, _D.claimed_until < now),
    )
    with UnitOfWork(engine) as uow:
        ids = (
            uow.conn.execute(
                select(_D.delivery_id)
                .where(due)
                .order_by(_D.next_attempt_at, _D.delivery_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        if not ids:
            return []
        claimed = uow.conn.execute(
            update(t.deliveries)
            .where(_D.delivery_id.in_(ids))
            .values(
                status=DeliveryStatus.SENDING.value,
                claimed_until=now + lease,
                attempts=_D.attempts + 1,
                updated_at=now,
            )
            .returning(_D.delivery_id, _D.attempts, _D.channel, _D.target, _D.event_id)
        ).all()
        events = {
            row.event_id: row
            for row in uow.conn.execute(select(t.events).where(t.events.c.event_id.in_({c.event_id for c in claimed})))
        }
        uow.commit()
    return sorted(
        (Claim(c.delivery_id, c.attempts, Channel(c.channel), c.target, events[c.event_id]) for c in claimed),
        key=lambda c: c.delivery_id,
    )


Sender = Callable[[Claim, datetime], Attempt]


def deliver(
    engine: Engine,
    clock: Callable[[], datetime],
    client: httpx.Client,
    rng: Random,
    *,
    limit: int = DELIVERY_BATCH,
    policy: RetryPolicy = RetryPolicy(),
    senders: dict[Channel, Sender] | None = None,
) -> Delivered:
    """Claim the due deliveries and make them, one after another; `clock` tells the time of each attempt."""
    now = clock()
    lease = timedelta(seconds=webhooks.TIMEOUT_SECONDS * limit + 60)  # long enough for every send of the batch
    claims = claim(engine, now, limit, lease)
    send_webhook = _webhook_sender(engine, client)
    channels: dict[Channel, Sender] = {Channel.WEBHOOK: send_webhook, **(senders or {})}
    done = Delivered(claimed=len(claims))
    for c in claims:
        sender = channels.get(c.channel)
        at = clock()
        if sender is None:
            attempt = Attempt(False, 0, error=f"no sender for the {c.channel.value} channel", permanent=True)
        else:
            attempt = sender(c, at)
        outcome = record(engine, c, attempt, clock(), policy, rng)
        setattr(done, outcome, getattr(done, outcome) + 1)
    return done


def _webhook_sender(engine: Engine, client: httpx.Client) -> Sender:
    def send(c: Claim, at: datetime) -> Attempt:
        with UnitOfWork(engine, read_only=True) as uow:
            endpoint = webhooks.find(uow, c.target)
        if endpoint is None:
            return Attempt(False, 0, error="endpoint removed", permanent=True)
        if not endpoint.enabled:
            return Attempt(False, 0, error="endpoint disabled", permanent=True)
        return webhooks.send(client, endpoint, c.event, at)

    return send


def record(engine: Engine, c: Claim, attempt: Attempt, now: datetime, policy: RetryPolicy, rng: Random) -> str:
    """Record an attempt in the log and the delivery's new state: "delivered", "retrying", "dead", "skipped" (a rule
    of contact said no) or "deferred" (quiet hours: due again when they end, the attempt not counted). If another
    worker took the delivery over meanwhile (this claim expired), only the log records this attempt."""
    attempt_no = c.attempt_no
    if attempt.delivered:
        outcome, status, next_at = "delivered", DeliveryStatus.DELIVERED, None
    elif attempt.skipped:
        outcome, status, next_at = "skipped", DeliveryStatus.SKIPPED, None
    elif attempt.defer_until is not None:
        outcome, status, next_at = "deferred", DeliveryStatus.PENDING, attempt.defer_until
        attempt_no -= 1  # waiting is not trying: the retries are all still there
    else:
        next_at = None if attempt.permanent else policy.next_attempt(c.attempt_no, now, rng)
        outcome, status = ("retrying", DeliveryStatus.PENDING) if next_at is not None else ("dead", DeliveryStatus.DEAD)
    response = attempt.response[: limits.RESPONSE_EXCERPT] if attempt.response is not None else None
    with UnitOfWork(engine) as uow:
        if outcome != "deferred":  # a message waiting for the quiet hours to end made no attempt
            uow.conn.execute(
                t.delivery_attempts.insert().values(
                    delivery_id=c.delivery_id,
                    attempt_no=c.attempt_no,
                    at=now,
                    outcome={"retrying": "retry"}.get(outcome, outcome),
                    status_code=attempt.status_code,
                    error=attempt.error,
                    response=response,
                    duration_ms=attempt.duration_ms,
                )
            )
        uow.conn.execute(
            update(t.deliveries)
            .where(
                _D.delivery_id == c.delivery_id,
                _D.status == DeliveryStatus.SENDING.value,
                _D.attempts == c.attempt_no,
            )
            .values(
                status=status.value,
                attempts=attempt_no,
                next_attempt_at=next_at,
                claimed_until=None,
                last_attempt_at=now,
                status_code=attempt.status_code,
                error=attempt.error,
                response=response,
                updated_at=now,
                delivered_at=now if attempt.delivered else None,
            )
        )
        uow.commit()
    return outcome


# The delivery log


def delivery_json(row: Any, attempts: Iterable[Any] | None = None) -> dict[str, Any]:
    view = {
        "delivery_id": row.delivery_id,
        "event_id": row.event_id,
        "member_id": row.account_id,
        "channel": row.channel,
        "target": row.target,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at) if row.status == DeliveryStatus.PENDING.value else None,
        "last_attempt_at": _iso(row.last_attempt_at),
        "status_code": row.status_code,
        "error": row.error,
        "response": row.response,
        "created_at": row.created_at.isoformat(),
        "delivered_at": _iso(row.delivered_at),
    }
    if attempts is not None:
        view["log"] = [
            {
                "attempt": a.attempt_no,
                "at": a.at.isoformat(),
                "outcome": a.outcome,
                "status_code": a.status_code,
                "error": a.error,
                "response": a.response,
                "duration_ms": a.duration_ms,
            }
            for a in attempts
        ]
    return view


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@dataclass(frozen=True)
class DeliveryFilter:
    status: DeliveryStatus | None = None
    channel: Channel | None = None
    target: str | None = None
    member_id: int | None = None
    event_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def where(self) -> list[Any]:
        found: list[Any] = []
        if self.status is not None:
            found.append(_D.status == self.status.value)
        if self.channel is not None:
            found.append(_D.channel == self.channel.value)
        if self.target is not None:
            found.append(_D.target == self.target)
        if self.member_id is not None:
            found.append(_D.account_id == self.member_id)
        if self.event_id is not None:
            found.append(_D.event_id == self.event_id)
        if self.created_from is not None:
            found.append(_D.created_at >= self.created_from)
        if self.created_to is not None:
            found.append(_D.created_at < self.created_to)
        return found


def deliveries(
    uow: UnitOfWork, where: DeliveryFilter, *, after: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The deliveries matching `where`, by id, after the id `after` (a page's last), at most `limit`."""
    query = select(t.deliveries).where(*where.where()).order_by(_D.delivery_id).limit(min(limit, MAX_PAGE))
    if after is not None:
        query = query.where(_D.delivery_id > after)
    return [delivery_json(row) for row in uow.conn.execute(query)]


def delivery(uow: UnitOfWork, delivery_id: int) -> dict[str, Any]:
    """One delivery with the log of its attempts."""
    row = uow.conn.execute(select(t.deliveries).where(_D.delivery_id == delivery_id)).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    a = t.delivery_attempts.c
    attempts = uow.conn.execute(
        select(t.delivery_attempts).where(a.delivery_id == delivery_id).order_by(a.attempt_no)
    ).all()
    return delivery_json(row, attempts)


def replay(uow: UnitOfWork, delivery_id: int, now: datetime) -> dict[str, Any]:
    """Send a delivery again, whatever became of it: pending, due now. One being sent cannot be replayed."""
    row = uow.conn.execute(select(t.deliveries).where(_D.delivery_id == delivery_id)).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    if row.status == DeliveryStatus.SENDING.value and row.claimed_until is not None and row.claimed_until >= now:
        raise InvalidInput.at("delivery_id", "is being sent right now; replay it once the attempt is recorded")
    _make_due(uow, [_D.delivery_id == delivery_id], now)
    return delivery(uow, delivery_id)


def replay_range(uow: UnitOfWork, where: DeliveryFilter, now: datetime) -> int:
    """Send again every delivery `where` selects (e.g. one endpoint's dead deliveries of a day); how many."""
    if where.created_from is None or where.created_to is None:
        raise InvalidInput.at("from", "a replay names the time range of the deliveries it sends again (from, to)")
    if where.created_to <= where.created_from:
        raise InvalidInput.at("to", "must be after from")
    not_in_flight = or_(_D.status != DeliveryStatus.SENDING.value, _D.claimed_until < now)
    return _make_due(uow, [*where.where(), not_in_flight], now)


def _make_due(uow: UnitOfWork, where: list[Any], now: datetime) -> int:
    return uow.conn.execute(
        update(t.deliveries)
        .where(*where)
        .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, claimed_until=None, updated_at=now)
    ).rowcount
