"""Concurrent use cases on both databases: threads, each with its own unit of work, started together.

SQLite serialises writers at BEGIN IMMEDIATE; PostgreSQL locks the member's account row. Either way one balance
is never overdrawn, one order id is one order, and the audit stays clean."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.core.errors import Conflict, InvalidInput, LoyaltyError
from loyalty.ledger import jobs
from loyalty.members import service as members
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from tests.usecases import (
    MEMBER,
    NOW,
    balance,
    cancel,
    confirm,
    entries,
    order,
    read,
    register,
    reserve,
    return_lines,
    run,
    violations,
)

THREADS = 20


def together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..n-1) on n threads released at the same instant; each outcome is a result or the error raised."""
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait()
        try:
            return work(i)
        except LoyaltyError as error:
            return error

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def kinds(outcomes: list[Any]) -> Counter[str]:
    return Counter("ok" if isinstance(o, dict) else type(o).__name__ for o in outcomes)


def count_orders(engine: Engine, order_key: str | None = None) -> int:
    query = select(func.count()).select_from(t.orders)
    if order_key is not None:
        query = query.where(t.orders.c.order_key == order_key)
    return read(engine, lambda uow: uow.conn.execute(query).scalar_one())


def test_concurrent_spends_never_overdraw_a_balance(seeded: Engine, rich_member: int) -> None:
    outcomes = together(
        THREADS, lambda i: confirm(seeded, order(f"spend-{i}", ("tv", "1000", 1), member=MEMBER, points=300))
    )
    assert kinds(outcomes) == {"ok": 3, "InsufficientPoints": THREADS - 3}
    assert all(o["points_applied"] == 300 for o in outcomes if isinstance(o, dict))
    figures = balance(seeded, rich_member)
    assert (figures["balance"], figures["available"]) == (100, 100)
    assert count_orders(seeded) == 3
    assert [e["points"] for e in entries(seeded, rich_member)].count(-300) == 3
    assert violations(seeded) == []


def test_concurrent_reservations_and_spends_never_hold_more_than_the_balance(seeded: Engine, rich_member: int) -> None:
    def work(i: int) -> Any:
        body = order(f"o-{i}", ("tv", "1000", 1), member=MEMBER, points=300)
        return reserve(seeded, body) if i % 2 else confirm(seeded, body)

    outcomes = together(THREADS, work)
    assert kinds(outcomes)["ok"] == 3
    figures = balance(seeded, rich_member)
    assert figures["balance"] - figures["held"] == 100
    assert figures["available"] == 100
    assert violations(seeded) == []


def test_concurrent_confirms_of_one_order_id_make_one_order(seeded: Engine, member: int) -> None:
    body = order("same", ("tv", "10000", 1), member=MEMBER, occurred_at=NOW)
    outcomes = together(THREADS, lambda _: confirm(seeded, body))
    assert kinds(outcomes) == {"ok": THREADS}
    assert all(o == outcomes[0] for o in outcomes)
    assert count_orders(seeded, "same") == 1
    assert [e["kind"] for e in entries(seeded, member)].count("earn") == 1
    assert balance(seeded, member)["balance"] == 1000
    assert violations(seeded) == []


def test_concurrent_confirms_of_one_non_member_order_id_make_one_order(seeded: Engine) -> None:
    body = order("guest", ("tv", "10000", 1), occurred_at=NOW)
    outcomes = together(THREADS, lambda _: confirm(seeded, body))
    assert kinds(outcomes) == {"ok": THREADS}
    assert all(o == outcomes[0] for o in outcomes)
    assert count_orders(seeded, "guest") == 1


def test_one_order_id_sent_for_two_members_at_once_is_one_order_and_a_conflict(seeded: Engine) -> None:
    phones = ["+79123456780", "+79123456781"]
    for phone in phones:
        register(seeded, phone)

    def work(i: int) -> Any:
        return confirm(seeded, order("shared", ("tv", "10000", 1), member={"phone": phones[i % 2]}, occurred_at=NOW))

    outcomes = together(THREADS, work)
    counted = kinds(outcomes)
    assert counted["ok"] == THREADS // 2
    assert counted["Conflict"] == THREADS // 2
    assert count_orders(seeded, "shared") == 1
    assert read(seeded, lambda uow: uow.conn.execute(select(func.sum(t.accounts.c.balance))).scalar_one()) == 1500
    assert violations(seeded) == []


def test_concurrent_returns_never_move_more_than_the_order(seeded: Engine, rich_member: int) -> None:
    confirm(seeded, order("p", ("cup", "1000", 5), member=MEMBER, points=999))
    outcomes = together(THREADS, lambda i: return_lines(seeded, "p", f"r-{i}", [("1", 1)]))
    counted = kinds(outcomes)
    assert counted == {"ok": 5, "InvalidInput": THREADS - 5}
    assert sum(o["points_given_back"] for o in outcomes if isinstance(o, dict)) == 999
    assert balance(seeded, rich_member)["balance"] == 1000
    assert violations(seeded) == []


def test_concurrent_retries_of_one_return_are_one_return(seeded: Engine, member: int) -> None:
    confirm(seeded, order("e", ("cup", "1000", 5), member=MEMBER))
    outcomes = together(THREADS, lambda _: return_lines(seeded, "e", "r", [("1", 2)]))
    assert kinds(outcomes) == {"ok": THREADS}
    assert all(o == outcomes[0] for o in outcomes)
    assert balance(seeded, member)["balance"] == 500 + 250 - 100
    assert violations(seeded) == []


def test_concurrent_registrations_of_one_phone_make_one_member(seeded: Engine) -> None:
    def work(_i: int) -> Any:
        with UnitOfWork(seeded) as uow:
            member_id = members.register(uow, members.parse_member({"phone": "+79120000000"}), NOW)
            uow.commit()
            return {"member_id": member_id}

    outcomes = together(10, work)
    assert kinds(outcomes) == {"ok": 1, "Conflict": 9}
    assert read(seeded, lambda uow: uow.conn.execute(select(func.count()).select_from(t.members)).scalar_one()) == 1
    assert violations(seeded) == []


def test_the_expiry_job_and_the_checkout_run_together(seeded: Engine, rich_member: int) -> None:
    others = [register(seeded, f"+7912000000{i}") for i in range(5)]
    expires = NOW + timedelta(days=335)  # the registration lots

    def work(i: int) -> Any:
        if i == 0:
            return jobs.expire(seeded, expires, expires)
        body = order(f"o-{i}", ("tv", "1000", 1), member=MEMBER, points=100, occurred_at=expires)
        with UnitOfWork(seeded) as uow:
            result = checkout.confirm(uow, parse_order(body, expires), expires)
            uow.commit()
            return result

    outcomes = together(11, work)
    assert kinds(outcomes)["ok"] == 6  # the job, and the five spends the adjustment's 500 points allow
    assert all(balance(seeded, m, expires)["balance"] == 0 for m in others)
    assert balance(seeded, rich_member, expires)["balance"] == 0
    assert violations(seeded) == []


def test_concurrent_returns_of_a_non_members_order_never_return_more_than_was_bought(seeded: Engine) -> None:
    confirm(seeded, order("guest", ("cup", "1000", 5)))
    outcomes = together(THREADS, lambda i: return_lines(seeded, "guest", f"r-{i}", [("1", 1)]))
    assert kinds(outcomes) == {"ok": 5, "InvalidInput": THREADS - 5}
    refunded = read(
        seeded,
        lambda uow: uow.conn.execute(select(func.count()).select_from(t.returns)).scalar_one(),
    )
    assert refunded == 5
    returned = read(
        seeded,
        lambda uow: uow.conn.execute(
            select(t.order_lines.c.returned_quantity).where(t.order_lines.c.order_key == "guest")
        ).scalar_one(),
    )
    assert returned == 5


def test_a_cancel_racing_partial_returns_still_cancels(seeded: Engine, rich_member: int) -> None:
    confirm(seeded, order("p", ("cup", "1000", 10), member=MEMBER, points=999))

    def work(i: int) -> Any:
        if i % 4 == 0:
            return cancel(seeded, "p")
        return return_lines(seeded, "p", f"r-{i}", [("1", 1)])

    outcomes = together(THREADS, work)
    cancels = [outcomes[i] for i in range(0, THREADS, 4)]
    assert all(isinstance(o, dict) and o["status"] == "cancelled" for o in cancels), cancels
    assert all(isinstance(o, dict | InvalidInput | Conflict) for o in outcomes)
    assert balance(seeded, rich_member)["balance"] == 1000
    assert violations(seeded) == []


@pytest.mark.usefixtures("rich_member")
def test_a_release_racing_the_confirmation_of_a_reservation_tells_the_truth(seeded: Engine) -> None:
    for round_ in range(5):
        key = f"r-{round_}"
        reserve(seeded, order(key, ("tv", "1000", 1), member=MEMBER, points=100))

        def work(i: int, key: str = key) -> Any:
            if i % 2:
                return run(seeded, lambda uow: checkout.release(uow, key, NOW))
            return run(seeded, lambda uow: checkout.confirm(uow, None, NOW, order_key=key))

        outcomes = together(10, work)
        status = read(
            seeded,
            lambda uow, key=key: uow.conn.execute(
                select(t.orders.c.status).where(t.orders.c.order_key == key)
            ).scalar_one(),
        )
        answered = {o["status"] for o in outcomes if isinstance(o, dict)}
        assert answered == {status}, (answered, status)  # nobody was told "released" about a confirmed order
        assert all(isinstance(o, dict | Conflict) for o in outcomes)
    assert violations(seeded) == []
