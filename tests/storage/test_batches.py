"""Keyset batches (`storage.batches`), on both databases: every id once, ascending, `size` at a time, each batch
read and worked on in a transaction of its own."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import Engine, select, update

from loyalty.storage import tables as t
from loyalty.storage.batches import in_batches
from loyalty.storage.database import UnitOfWork
from tests.usecases import adjust, read, register


def _members(engine: Engine, n: int) -> list[int]:
    return sorted(register(engine, f"+7912345670{i}") for i in range(n))


def test_every_id_once_in_ascending_batches(seeded: Engine) -> None:
    ids = _members(seeded, 5)
    seen: list[list[int]] = []
    done: list[int] = []
    in_batches(
        seeded, select(t.members.c.member_id), lambda _, batch: seen.append(list(batch)), size=2, progress=done.append
    )
    assert seen == [ids[0:2], ids[2:4], ids[4:5]]
    assert done == [2, 2, 1]


def test_a_grouped_select_gives_each_key_once(seeded: Engine) -> None:
    ids = _members(seeded, 3)
    for member_id in ids:
        adjust(seeded, member_id, 10)  # a second lot beside the registration's
    seen: list[int] = []
    lo = t.lots.c
    by_account = select(lo.account_id).where(lo.remaining > 0).group_by(lo.account_id)
    in_batches(seeded, by_account, lambda _, batch: seen.extend(batch), size=2)
    assert seen == ids


def test_a_failing_batch_rolls_back_alone_and_stops_the_run(seeded: Engine) -> None:
    ids = _members(seeded, 5)

    def rename(uow: UnitOfWork, batch: Sequence[int]) -> None:
        uow.conn.execute(update(t.members).where(t.members.c.member_id.in_(batch)).values(name="seen"))
        if ids[2] in batch:
            raise RuntimeError("the second batch fails")

    with pytest.raises(RuntimeError):
        in_batches(seeded, select(t.members.c.member_id), rename, size=2)
    names = read(
        seeded,
        lambda uow: {r.member_id: r.name for r in uow.conn.execute(select(t.members.c.member_id, t.members.c.name))},
    )
    assert [names[i] for i in ids] == ["seen", "seen", None, None, None]
