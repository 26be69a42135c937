"""Batch jobs run "as of" an instant: `activate` records pending lots that became spendable, `expire` writes
off the points of lots past their expiry. `expire` works account by account in batches, each batch one transaction
that locks its accounts in ascending order (so two jobs or a job and a checkout never deadlock)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine, select, update

from loyalty.ledger import repository as accounts
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.batches import BATCH, in_batches
from loyalty.storage.database import UnitOfWork


def activate(engine: Engine, as_of: datetime) -> dict[str, int]:
    """Mark the lots whose pending period ended by `as_of` as activated (at `as_of`: the instant the job speaks
    for, not when it happened to run). Spending never waits for this job: whether a lot is spendable is decided by
    its `available_at`; the job records when it happened. One statement, so no batches."""
    with UnitOfWork(engine) as uow:
        lots = uow.conn.execute(
            update(t.lots)
            .where(t.lots.c.activated_at.is_(None), t.lots.c.available_at <= as_of)
            .values(activated_at=as_of)
            .returning(t.lots.c.remaining)
        ).all()
        uow.commit()
    return {"lots": len(lots), "points": sum(r.remaining for r in lots)}


def expire(
    engine: Engine, as_of: datetime, now: datetime, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write off every lot with `expires_at <= as_of` and a remainder, one expire entry per such lot, naming the
    program version in force at the lot's expiry."""
    counts = {"accounts": 0, "points": 0}

    def burn(uow: UnitOfWork, batch: Sequence[int]) -> None:
        version_at = programs.versions_in_force(uow)
        for account_id in batch:
            account = accounts.load_lots(uow, accounts.lock(uow, account_id, now))
            counts["points"] += account.expire(as_of, version_at)
            accounts.flush(uow, account)
        counts["accounts"] += len(batch)

    lo = t.lots.c
    due = select(lo.account_id).where(lo.expires_at <= as_of, lo.remaining > 0).group_by(lo.account_id)
    in_batches(engine, due, burn, size=BATCH, progress=progress)
    return counts
