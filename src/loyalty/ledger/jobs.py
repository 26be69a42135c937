"""Batch jobs run "as of" an instant: `activate` records pending lots that became spendable, `expire` writes
off the points of lots past their expiry. `expire` works in batches of accounts, each batch one transaction that
locks its accounts in ascending order (so two jobs or a job and a checkout never deadlock) and writes them off with
a few set-based statements (`loyalty.ledger.expiry`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, func, select, tuple_, update

from loyalty.core.events import Event, EventKind
from loyalty.ledger import expiry
from loyalty.ledger import repository as accounts
from loyalty.storage import tables as t
from loyalty.storage.batches import in_batches
from loyalty.storage.database import UnitOfWork

# Accounts per expiry batch: thousands, so the statements of a batch each write many rows; one batch's locks are
# held for one transaction of a few seconds at most.
BATCH = 5000


def activate(engine: Engine, as_of: datetime, now: datetime) -> dict[str, int]:
    """Mark the lots whose pending period ended by `as_of` as activated (at `as_of`: the instant the job speaks
    for, not when it happened to run). Spending never waits for this job: whether a lot is spendable is decided by
    its `available_at`; the job records when it happened. One statement, so no batches."""
    with UnitOfWork(engine) as uow:
        lots = uow.conn.execute(
            update(t.lots)
            .where(t.lots.c.activated_at.is_(None), t.lots.c.available_at <= as_of)
            .values(activated_at=as_of)
            .returning(t.lots.c.account_id, t.lots.c.entry_no, t.lots.c.remaining, t.lots.c.available_at)
        ).all()
        _announce_unlocked(uow, [lot for lot in lots if lot.remaining > 0], as_of, now)
        uow.commit()
    return {"lots": len(lots), "points": sum(r.remaining for r in lots)}


def _announce_unlocked(uow: UnitOfWork, lots: Sequence[Row[Any]], as_of: datetime, now: datetime) -> None:
    """A `points.available` event per account for the lots that were pending: a lot spendable from the moment it
    was credited (a welcome bonus) unlocked nothing the member was waiting for."""
    e = t.ledger_entries.c
    credited: dict[tuple[int, int], datetime] = {}
    for start in range(0, len(lots), 1000):
        keys = [(lot.account_id, lot.entry_no) for lot in lots[start : start + 1000]]
        query = select(e.account_id, e.entry_no, e.occurred_at).where(tuple_(e.account_id, e.entry_no).in_(keys))
        credited.update({(r.account_id, r.entry_no): r.occurred_at for r in uow.conn.execute(query)})
    unlocked: dict[int, list[Row[Any]]] = {}
    for lot in lots:
        if lot.available_at > credited[(lot.account_id, lot.entry_no)]:
            unlocked.setdefault(lot.account_id, []).append(lot)
    for account_id, its in sorted(unlocked.items()):
        data = {"points": sum(lot.remaining for lot in its), "lots": len(its)}
        at = max(lot.available_at for lot in its)
        uow.emit(Event(EventKind.POINTS_AVAILABLE, account_id, at, data, key=f"available:{as_of.isoformat()}"), now)


def expire(
    engine: Engine, as_of: datetime, now: datetime, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write off every lot with `expires_at <= as_of` and a remainder, one expire entry per such lot, naming the
    program version in force at the lot's expiry, and record a `points.expired` event per account that lost points
    (`loyalty.ledger.expiry` says what is written). Accounts with such lots are taken BATCH at a time in ascending
    order, each batch locked in that order and written off by a few set-based statements in one transaction."""
    counts = {"accounts": 0, "points": 0}

    def burn(uow: UnitOfWork, batch: Sequence[int]) -> None:
        accounts.lock_many(uow, batch)
        for burned in expiry.burn(uow, batch, as_of, now):
            data = {"points": burned.points, "lots": burned.lots, "balance": burned.balance}
            uow.emit(Event(EventKind.POINTS_EXPIRED, burned.account_id, burned.latest, data), now)
            counts["points"] += burned.points
        counts["accounts"] += len(batch)

    lo = t.lots.c
    due = select(lo.account_id).where(lo.expires_at <= as_of, lo.remaining > 0).group_by(lo.account_id)
    in_batches(engine, due, burn, size=BATCH, progress=progress)
    return counts


# How far ahead `warn_expiring` looks: a lot's points are announced once, when its expiry comes within this many
# days; a message trigger then chooses when, before the expiry, to tell the member (e.g. 7 days before).
EXPIRY_NOTICE_DAYS = 30


def warn_expiring(engine: Engine, as_of: datetime, now: datetime) -> dict[str, int]:
    """Record a `points.expiring` event for each account and expiry instant within EXPIRY_NOTICE_DAYS of `as_of`
    with points still left to burn: one per account and instant ever (its key), however often the job runs. One
    grouped query and one insert, however many accounts."""
    lo = t.lots.c
    horizon = as_of + timedelta(days=EXPIRY_NOTICE_DAYS)
    due = (
        select(lo.account_id, lo.expires_at, func.sum(lo.remaining).label("points"), func.count().label("lots"))
        .where(lo.expires_at > as_of, lo.expires_at <= horizon, lo.remaining > 0)
        .group_by(lo.account_id, lo.expires_at)
        .order_by(lo.account_id, lo.expires_at)
    )
    with UnitOfWork(engine) as uow:
        rows = uow.conn.execute(due).all()
        for row in rows:
            expires_at: datetime = row.expires_at
            data = {"points": int(row.points), "lots": int(row.lots), "expires_at": expires_at.isoformat()}
            key = f"expiring:{expires_at.isoformat()}"
            uow.emit(Event(EventKind.POINTS_EXPIRING, row.account_id, as_of, data, key=key), now)
        uow.commit()
    return {"accounts": len({row.account_id for row in rows}), "points": sum(int(row.points) for row in rows)}
