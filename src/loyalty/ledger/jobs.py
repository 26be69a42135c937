"""Batch jobs run "as of" an instant: `activate` records pending lots that became spendable, `expire` writes
off the points of lots past their expiry. Both work account by account in batches, each batch one transaction
that locks its accounts in ascending order (so two jobs or a job and a checkout never deadlock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, select, update

from loyalty.ledger import repository as accounts
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

BATCH = 500


def activate(engine: Engine, as_of: datetime, now: datetime) -> dict[str, int]:
    """Mark the lots whose pending period ended by `as_of` as activated. Spending never waits for this job:
    whether a lot is spendable is decided by its `available_at`; the job records when it happened."""
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
    accounts_done, burned = 0, 0
    after = -1
    while True:
        with UnitOfWork(engine) as uow:
            batch = (
                uow.conn.execute(
                    select(t.lots.c.account_id)
                    .where(t.lots.c.expires_at <= as_of, t.lots.c.remaining > 0, t.lots.c.account_id > after)
                    .group_by(t.lots.c.account_id)
                    .order_by(t.lots.c.account_id)
                    .limit(BATCH)
                )
                .scalars()
                .all()
            )
            if not batch:
                break
            version_at = programs.versions_in_force(uow)
            for account_id in batch:
                account = accounts.load_lots(uow, accounts.lock(uow, account_id, now))
                burned += account.expire(as_of, version_at)
                accounts.flush(uow, account)
            uow.commit()
        accounts_done += len(batch)
        after = batch[-1]
        if progress:
            progress(len(batch))
    return {"accounts": accounts_done, "points": burned}
