"""Keyset batches for the jobs that walk every account (or member): the next `size` ids after the last one seen,
each batch worked on in a transaction of its own, so that a long run neither holds its locks for long nor loses all
its work to one failure. Ids come in ascending order, batch after batch, so a job that locks the accounts of its
batch in that order locks them in the same order as every other job and the checkout: no deadlock."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine, Select

from loyalty.storage.database import UnitOfWork

BATCH = 500

BatchWork = Callable[[UnitOfWork, Sequence[int]], None]


def next_ids(uow: UnitOfWork, ids: Select[int], after: int | None, size: int = BATCH) -> Sequence[int]:
    """The first `size` ids `ids` selects above `after` (None: from the start), in ascending order. `ids` selects
    one integer column, the key; it may filter and group (one id per group) but not order or limit."""
    key = ids.selected_columns[0]
    query = ids if after is None else ids.where(key > after)
    return uow.conn.execute(query.order_by(key).limit(size)).scalars().all()


def in_batches(
    engine: Engine,
    ids: Select[int],
    work: BatchWork,
    *,
    size: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Call `work(uow, batch)` for each batch of the ids `ids` selects (see `next_ids`), each batch read and worked
    on in one unit of work that is committed when `work` returns; `progress` hears the size of each batch done.
    An exception from `work` rolls its batch back and stops the run; the batches before it stay committed."""
    after: int | None = None
    while True:
        with UnitOfWork(engine) as uow:
            batch = next_ids(uow, ids, after, size)
            if not batch:
                return
            work(uow, batch)
            uow.commit()
        after = batch[-1]
        if progress:
            progress(len(batch))
