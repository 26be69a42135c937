"""What the checkout reads to find a balance, on both databases: the holds of reservations only while one may
still hold points (accounts.hold_until), and the sum of the spendable lots counted by the database unless the
lots are loaded to be drawn from — always with the figures the lots themselves give."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, select

from loyalty.ledger import repository as accounts
from loyalty.ledger.model import EntryKind, Provenance
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from tests.usecases import MEMBER, NOW, balance, calculate, confirm, lots, order, read, reserve, run, violations


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL the engine sends inside the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def holds_queries(sent: list[str]) -> int:
    return sum("sum(orders.hold_points)" in s for s in sent)


def hold_until(engine: Engine, member_id: int) -> datetime | None:
    return read(
        engine,
        lambda uow: uow.conn.execute(
            select(t.accounts.c.hold_until).where(t.accounts.c.account_id == member_id)
        ).scalar_one(),
    )


def test_hold_until_is_never_before_the_end_of_a_live_hold(seeded: Engine, rich_member: int) -> None:
    assert hold_until(seeded, rich_member) is None  # never reserved
    reserve(seeded, order("r1", ("tv", "2000", 1), member=MEMBER, points=100), NOW, timedelta(minutes=15))
    assert hold_until(seeded, rich_member) == NOW + timedelta(minutes=15)
    reserve(seeded, order("r2", ("tv", "2000", 1), member=MEMBER, points=100), NOW, timedelta(minutes=5))
    assert hold_until(seeded, rich_member) == NOW + timedelta(minutes=15)  # a shorter hold does not shorten it
    reserve(seeded, order("r3", ("tv", "2000", 1), member=MEMBER, points=100), NOW, timedelta(hours=1))
    assert hold_until(seeded, rich_member) == NOW + timedelta(hours=1)
    # A retried reservation, and a refused one, change nothing.
    reserve(seeded, order("r1", ("tv", "2000", 1), member=MEMBER, points=100), NOW, timedelta(days=2))
    assert hold_until(seeded, rich_member) == NOW + timedelta(hours=1)


def test_holds_are_read_only_while_one_may_still_hold_points(seeded: Engine, rich_member: int) -> None:
    body = order("o1", ("tv", "2000", 1), member=MEMBER, points=100)
    with statements(seeded) as sent:
        assert calculate(seeded, body)["balance_available"] == 1000
    assert holds_queries(sent) == 0  # never reserved: nothing to look for

    reserve(seeded, order("r1", ("tv", "2000", 1), member=MEMBER, points=800), NOW, timedelta(minutes=15))
    during = NOW + timedelta(minutes=15) - timedelta(microseconds=1)
    with statements(seeded) as sent:
        assert calculate(seeded, body, during)["balance_available"] == 200
        assert balance(seeded, rich_member, during)["held"] == 800
    assert holds_queries(sent) == 2

    after = NOW + timedelta(minutes=15)  # the instant the hold ends it holds nothing
    with statements(seeded) as sent:
        assert calculate(seeded, body, after)["balance_available"] == 1000
        assert balance(seeded, rich_member, after)["held"] == 0
        spent = confirm(seeded, order("o2", ("tv", "2000", 1), member=MEMBER, points=1000), after)
    assert spent["points_applied"] == 1000
    assert holds_queries(sent) == 0
    assert violations(seeded) == []


def test_the_sum_of_spendable_lots_matches_the_lots_at_their_edges(seeded: Engine, member: int) -> None:
    # Lots of 500 (registration, spendable at once) and 250 pending for 14 days, both expiring after 365 days.
    confirm(seeded, order("o1", ("tv", "5000", 1), member=MEMBER, occurred_at=NOW - timedelta(days=20)))
    instants = {NOW}
    for lot in lots(seeded, member).values():
        for edge in (lot.available_at, lot.expires_at):
            instants |= {edge - timedelta(microseconds=1), edge, edge + timedelta(microseconds=1)}

    def both(at: datetime) -> tuple[int, int]:
        with UnitOfWork(seeded, read_only=True) as uow:
            counted = accounts.spendable(uow, accounts.read(uow, member, NOW), at)  # a SUM in the database
            account = accounts.load_lots(uow, accounts.read(uow, member, NOW))
            return counted, account.spendable(at)  # the domain's rule over the loaded lots

    figures = {at: both(at) for at in sorted(instants)}
    assert all(counted == loaded for counted, loaded in figures.values()), figures
    assert {counted for counted, _ in figures.values()} == {0, 250, 500, 750}


def test_points_credited_in_the_transaction_count_before_they_are_written(seeded: Engine, member: int) -> None:
    def credit_then_count(uow: UnitOfWork) -> tuple[int, int]:
        account = accounts.lock(uow, member, NOW)
        credited = Provenance(program_version=1, operator="tests", reason="credited")
        account.credit(EntryKind.ADJUST, 300, NOW, NOW, None, credited)
        counted = accounts.spendable(uow, account, NOW)
        accounts.load_lots(uow, account)
        loaded = account.spendable(NOW)
        accounts.flush(uow, account)
        return counted, loaded

    assert run(seeded, credit_then_count) == (800, 800)
    assert balance(seeded, member)["available"] == 800
    assert violations(seeded) == []
