"""Manual adjustments and reading the ledger, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from loyalty.core.errors import InsufficientPoints, InvalidInput, NotFound
from loyalty.ledger import service as ledger
from tests.usecases import (
    MEMBER,
    NOW,
    adjust,
    balance,
    confirm,
    entries,
    lots,
    order,
    read,
    run,
    snapshot,
    violations,
)


def test_an_adjustment_names_the_operator_and_the_reason(seeded: Engine, member: int) -> None:
    result = run(seeded, lambda uow: ledger.adjust(uow, member, 250, " alice ", " goodwill ", NOW))
    assert (result["points"], result["balance"]) == (250, 750)
    latest = entries(seeded, member)[0]
    assert (latest["kind"], latest["points"], latest["operator"], latest["reason"]) == (
        "adjust",
        250,
        "alice",
        "goodwill",
    )
    lot = lots(seeded, member)[latest["entry_no"] - 1]
    assert (lot.available_at, lot.expires_at) == (NOW, NOW + timedelta(days=365))


@pytest.mark.parametrize(
    ("points", "operator", "reason", "path"),
    [(10, "", "why", "operator"), (10, "alice", "  ", "reason"), (0, "alice", "why", "points")],
)
def test_a_bad_adjustment_writes_nothing(
    seeded: Engine, member: int, points: int, operator: str, reason: str, path: str
) -> None:
    before = snapshot(seeded)
    with pytest.raises(InvalidInput) as caught:
        run(seeded, lambda uow: ledger.adjust(uow, member, points, operator, reason, NOW))
    assert [p.path for p in caught.value.problems] == [path]
    assert snapshot(seeded) == before


def test_a_debit_takes_from_any_lot_and_never_below_zero(seeded: Engine, member: int) -> None:
    confirm(seeded, order("o1", ("tv", "10000", 1), member=MEMBER))  # 500 more, pending
    before = snapshot(seeded)
    with pytest.raises(InsufficientPoints):
        adjust(seeded, member, -1001)
    assert snapshot(seeded) == before
    # A correction may remove pending points too, soonest-expiring first.
    assert adjust(seeded, member, -700)["balance"] == 300
    assert [lot.remaining for lot in lots(seeded, member).values()] == [0, 300]
    assert balance(seeded, member)["available"] == 0
    assert adjust(seeded, member, -300)["balance"] == 0
    assert violations(seeded) == []


def test_an_adjustment_of_an_unknown_member_is_not_found(seeded: Engine) -> None:
    with pytest.raises(NotFound):
        adjust(seeded, 999, 10)


def test_entries_are_paged_newest_first(seeded: Engine, member: int) -> None:
    for i in range(5):
        adjust(seeded, member, i + 1)
    page = read(seeded, lambda uow: ledger.entries(uow, member, limit=3))
    assert [e["points"] for e in page] == [5, 4, 3]
    rest = read(seeded, lambda uow: ledger.entries(uow, member, after=page[-1]["entry_no"], limit=3))
    assert [e["points"] for e in rest] == [2, 1, 500]
    assert sum(e["points"] for e in entries(seeded, member)) == balance(seeded, member)["balance"] == 515
