"""Returns and cancellations on both databases: partial returns never move more than the order did, a full return
restores the balance exactly, spent points go back into the lots they came from, returns follow the order's
program version, and points already spent become debt or a recorded shortfall."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from loyalty.checkout import returns
from loyalty.checkout import service as checkout
from loyalty.core.errors import Conflict, InsufficientPoints, InvalidInput, NotFound
from tests.usecases import (
    MEMBER,
    NOW,
    adjust,
    balance,
    cancel,
    confirm,
    entries,
    lots,
    order,
    publish,
    register,
    reserve,
    return_lines,
    run,
    seed_program,
    snapshot,
    violations,
)

# rich_member's lots: 1 = registration (500, burns NOW + 335 days), 3 = adjustment (500, burns NOW + 365 days).
REGISTRATION_LOT, ADJUSTMENT_LOT = 1, 3


def remaining(engine: Engine, member_id: int) -> dict[int, int]:
    return {no: lot.remaining for no, lot in lots(engine, member_id).items()}


def moved(results: list[dict[str, Any]]) -> tuple[int, int]:
    return sum(r["points_given_back"] for r in results), sum(r["points_taken_back"] for r in results)


# Partial returns


def test_partial_returns_of_a_paid_order_give_back_exactly_what_was_spent(seeded: Engine, rich_member: int) -> None:
    paid = confirm(seeded, order("p", ("cup", "333.33", 3), ("pot", "1000.00", 1), member=MEMBER, points=777))
    assert paid["points_applied"] == 777
    cup, pot = (line["points_applied"] for line in paid["lines"])
    assert cup + pot == 777
    assert balance(seeded, rich_member)["balance"] == 223
    results = [return_lines(seeded, "p", f"r{i}", [("1", 1)]) for i in range(3)]
    given = [r["points_given_back"] for r in results]
    assert sum(given) == cup
    assert max(given) - min(given) <= 1  # three equal units, to the point
    assert balance(seeded, rich_member)["balance"] == 223 + cup
    results.append(return_lines(seeded, "p", "r-pot", [("2", 1)]))
    assert moved(results) == (777, 0)
    assert balance(seeded, rich_member)["balance"] == 1000  # restored exactly
    assert remaining(seeded, rich_member) == {REGISTRATION_LOT: 500, ADJUSTMENT_LOT: 500}
    refunded = sum(_minor(line["amount_refunded"]) for r in results for line in r["lines"])
    assert refunded == _minor(paid["amount_to_pay"])
    assert violations(seeded) == []


def test_partial_returns_of_an_earning_order_take_back_exactly_what_was_earned(seeded: Engine, member: int) -> None:
    earned = confirm(seeded, order("e", ("cup", "333.33", 3), ("spoon", "0.99", 1), member=MEMBER))
    assert earned["points_to_earn"] == 50  # 5% of 1,000.98, rounded down
    assert balance(seeded, member)["balance"] == 550
    results = [return_lines(seeded, "e", f"r{i}", [("1", 1)]) for i in range(3)]
    assert [r["points_taken_back"] for r in results] == [16, 17, 17]
    results.append(return_lines(seeded, "e", "r-spoon", [("2", 1)]))
    assert moved(results) == (0, 50)
    assert balance(seeded, member)["balance"] == 500
    # The points came back out of the order's own (pending) lot, not out of the registration bonus.
    assert remaining(seeded, member) == {1: 500, 3: 0}
    with pytest.raises(InvalidInput):
        return_lines(seeded, "e", "r-more", [("1", 1)])
    assert violations(seeded) == []


@pytest.mark.parametrize("splits", [[1, 1, 1, 1, 1, 1, 1], [2, 5], [3, 3, 1], [6, 1], [7]])
def test_any_split_of_a_return_moves_exactly_the_order(seeded: Engine, rich_member: int, splits: list[int]) -> None:
    earned = confirm(seeded, order("e", ("tea", "142.87", 7), member=MEMBER))
    paid = confirm(seeded, order("p", ("tea", "142.87", 7), member=MEMBER, points=999))
    results_e = [return_lines(seeded, "e", f"e{i}", [("1", n)]) for i, n in enumerate(splits)]
    results_p = [return_lines(seeded, "p", f"p{i}", [("1", n)]) for i, n in enumerate(splits)]
    assert moved(results_e) == (0, earned["points_to_earn"]) == (0, 50)
    assert moved(results_p) == (paid["points_applied"], 0) == (990, 0)
    assert balance(seeded, rich_member)["balance"] == 1000
    assert remaining(seeded, rich_member)[REGISTRATION_LOT] == 500
    assert remaining(seeded, rich_member)[ADJUSTMENT_LOT] == 500
    assert violations(seeded) == []


def test_spent_points_go_back_into_the_lots_they_came_from(seeded: Engine, rich_member: int) -> None:
    # The spend takes the soonest-expiring lot first: 500 from the registration lot, 200 from the adjustment.
    confirm(seeded, order("p", ("cup", "1000", 7), member=MEMBER, points=700))
    assert remaining(seeded, rich_member) == {REGISTRATION_LOT: 0, ADJUSTMENT_LOT: 300}
    # A return gives back into the longest-lived lot first, never more than the spend took from it.
    first = return_lines(seeded, "p", "r1", [("1", 3)])
    assert first["points_given_back"] == 300
    assert remaining(seeded, rich_member) == {REGISTRATION_LOT: 100, ADJUSTMENT_LOT: 500}
    return_lines(seeded, "p", "r2", [("1", 4)])
    assert remaining(seeded, rich_member) == {REGISTRATION_LOT: 500, ADJUSTMENT_LOT: 500}
    # The registration points keep their own expiry date: they still burn first.
    figures = balance(seeded, rich_member)
    assert figures["next_expiries"][0] == {"expires_at": (NOW + timedelta(days=335)).isoformat(), "points": 500}
    assert violations(seeded) == []


def test_a_full_return_restores_the_balance_even_after_other_activity(seeded: Engine, rich_member: int) -> None:
    confirm(seeded, order("p", ("cup", "500", 4), member=MEMBER, points=600))
    confirm(seeded, order("q", ("pot", "1500", 1), member=MEMBER, points=300))
    adjust(seeded, rich_member, 50)
    assert balance(seeded, rich_member)["balance"] == 150
    cancel(seeded, "p")
    assert balance(seeded, rich_member)["balance"] == 750
    cancel(seeded, "q")
    assert balance(seeded, rich_member)["balance"] == 1050
    assert sum(lot.remaining for lot in lots(seeded, rich_member).values()) == 1050
    assert violations(seeded) == []


def test_an_order_wide_discount_is_refunded_as_it_was_paid(seeded: Engine, rich_member: int) -> None:
    body = order("d", ("cup", "333.33", 3), ("pot", "1500", 1), member=MEMBER, points=400, discount="99.99")
    paid = confirm(seeded, body)
    assert paid["total"] == "2400.00"  # 2,499.99 less the order's discount, spread over the lines
    assert paid["amount_to_pay"] == "2000.00"
    results = [return_lines(seeded, "d", f"r{i}", [("1", 1)]) for i in range(3)]
    results.append(return_lines(seeded, "d", "r-pot", [("2", 1)]))
    assert moved(results) == (400, 0)
    refunded = sum(_minor(line["amount_refunded"]) for r in results for line in r["lines"])
    assert refunded == 2000_00
    assert balance(seeded, rich_member)["balance"] == 1000
    assert violations(seeded) == []


# Bad returns write nothing


@pytest.mark.parametrize(
    ("lines", "path"),
    [
        ([("1", 4)], "lines[0].quantity"),
        ([("1", 2), ("1", 2)], "lines[1].quantity"),
        ([("9", 1)], "lines[0].line_id"),
        ([("2", 1), ("unknown", 1)], "lines[1].line_id"),
    ],
)
@pytest.mark.usefixtures("member")
def test_a_return_of_more_than_was_bought_or_of_an_unknown_line_writes_nothing(
    seeded: Engine, lines: list[tuple[str, int]], path: str
) -> None:
    confirm(seeded, order("e", ("cup", "1000", 3), ("pot", "1000", 1), member=MEMBER))
    before = snapshot(seeded)
    with pytest.raises(InvalidInput) as caught:
        return_lines(seeded, "e", "r1", lines)
    assert path in [p.path for p in caught.value.problems]
    assert snapshot(seeded) == before
    # The return id is still free.
    assert return_lines(seeded, "e", "r1", [("1", 3)])["points_taken_back"] == 150


@pytest.mark.usefixtures("member")
def test_what_was_already_returned_cannot_be_returned_again(seeded: Engine) -> None:
    confirm(seeded, order("e", ("cup", "1000", 3), member=MEMBER))
    return_lines(seeded, "e", "r1", [("1", 2)])
    before = snapshot(seeded)
    with pytest.raises(InvalidInput, match="only 1 of line '1' left"):
        return_lines(seeded, "e", "r2", [("1", 2)])
    assert snapshot(seeded) == before


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], "lines"),
        ([{"line_id": "1", "quantity": 0}], "lines[0].quantity"),
        ([{"line_id": "1", "quantity": -1}], "lines[0].quantity"),
        ([{"line_id": "1", "quantity": "1"}], "lines[0].quantity"),
        ([{"quantity": 1}], "lines[0]"),
    ],
)
def test_return_requests_are_checked(data: Any, path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        returns.parse_return_lines(data)
    assert [p.path for p in caught.value.problems] == [path]


@pytest.mark.usefixtures("member")
def test_a_return_is_exactly_once_by_its_id(seeded: Engine) -> None:
    confirm(seeded, order("e", ("cup", "1000", 3), member=MEMBER))
    first = return_lines(seeded, "e", "r1", [("1", 1)])
    before = snapshot(seeded)
    assert return_lines(seeded, "e", "r1", [("1", 1)], NOW + timedelta(days=1)) == first
    assert snapshot(seeded) == before
    with pytest.raises(Conflict):
        return_lines(seeded, "e", "r1", [("1", 2)])
    assert snapshot(seeded) == before
    # Return ids are numbered per order: r1 of another order is another return.
    confirm(seeded, order("other", ("cup", "1000", 3), member=MEMBER))
    other = return_lines(seeded, "other", "r1", [("1", 2)])
    assert (other["order_id"], other["return_id"], other["lines"][0]["quantity"]) == ("other", "r1", 2)
    assert return_lines(seeded, "e", "r1", [("1", 1)]) == first
    with pytest.raises(NotFound):
        return_lines(seeded, "nope", "r9", [("1", 1)])
    with pytest.raises(InvalidInput):
        return_lines(seeded, "e", "", [("1", 1)])


# The order's program version


def test_returns_follow_the_program_version_of_the_order(seeded: Engine, member: int) -> None:
    """v1 (the seed) lets a return leave the account in debt; v2 records a shortfall and values points at 0.50 ₽."""
    confirm(seeded, order("a", ("tv", "10000", 1), member=MEMBER, occurred_at=NOW - timedelta(days=20)))
    paid = confirm(seeded, order("b", ("tv", "2000", 1), member=MEMBER, points=1000))
    assert (paid["program_version"], paid["amount_to_pay"]) == (1, "1000.00")
    assert balance(seeded, member)["balance"] == 0
    v2 = seed_program(
        point_value="0.50",
        earning={"pending_days": 14, "rules": [{"id": "base", "percent": 10}]},
        returns={"shortfall": "record_shortfall"},
    )
    assert publish(seeded, v2, NOW + timedelta(days=1)) == 2
    later = NOW + timedelta(days=2)

    # Order a earned 500 under v1; they were spent, so under v1 the account goes into debt.
    taken = return_lines(seeded, "a", "ra", [("1", 1)], later)
    assert (taken["points_taken_back"], taken["shortfall"], taken["balance"]) == (500, 0, -500)
    figures = balance(seeded, member, later)
    assert (figures["balance"], figures["debt"], figures["available"]) == (-500, 500, 0)
    # Order b spent 1,000 points worth 1,000 ₽ under v1: the refund is the money paid, not a v2 valuation.
    given = return_lines(seeded, "b", "rb", [("1", 1)], later)
    assert given["points_given_back"] == 1000
    assert given["lines"][0]["amount_refunded"] == "1000.00"
    assert {e["program_version"] for e in entries(seeded, member) if e["return_id"]} == {1}
    figures = balance(seeded, member, later)
    assert (figures["balance"], figures["debt"]) == (500, 0)
    assert violations(seeded) == []


def test_points_given_back_repay_a_debt_before_they_can_be_spent(seeded: Engine, member: int) -> None:
    confirm(seeded, order("a", ("tv", "10000", 1), member=MEMBER, occurred_at=NOW - timedelta(days=20)))
    confirm(seeded, order("b", ("tv", "2000", 1), member=MEMBER, points=1000))
    return_lines(seeded, "a", "ra", [("1", 1)])
    assert balance(seeded, member)["balance"] == -500
    return_lines(seeded, "b", "rb", [("1", 1)])
    figures = balance(seeded, member)
    assert (figures["balance"], figures["debt"], figures["available"]) == (500, 0, 500)
    with pytest.raises(InsufficientPoints):
        confirm(seeded, order("c", ("tv", "2000", 1), member=MEMBER, points=501))
    assert confirm(seeded, order("c", ("tv", "2000", 1), member=MEMBER, points=500))["points_applied"] == 500
    assert balance(seeded, member)["balance"] == 0
    assert violations(seeded) == []


# Points already spent: debt or shortfall


def _earn_then_spend_it_all(engine: Engine, member_id: int) -> None:
    """The member earns 500 on an old order, then spends all 1,000 points on another order."""
    confirm(engine, order("a", ("tv", "10000", 1), member=MEMBER, occurred_at=NOW - timedelta(days=20)))
    confirm(engine, order("b", ("tv", "2000", 1), member=MEMBER, points=700))
    assert balance(engine, member_id)["balance"] == 300


def test_a_return_of_spent_points_leaves_a_debt_repaid_by_later_points(engine: Engine) -> None:
    publish(engine)  # the seed: returns.shortfall defaults to negative_balance
    member_id = register(engine)
    _earn_then_spend_it_all(engine, member_id)
    result = return_lines(engine, "a", "ra", [("1", 1)])
    assert (result["points_taken_back"], result["shortfall"], result["balance"]) == (500, 0, -200)
    figures = balance(engine, member_id)
    assert (figures["balance"], figures["debt"], figures["available"]) == (-200, 200, 0)
    with pytest.raises(InsufficientPoints):
        confirm(engine, order("c", ("tv", "2000", 1), member=MEMBER, points=1))
    assert violations(engine) == []
    # The next accrual repays the debt first.
    confirm(engine, order("d", ("tv", "6000", 1), member=MEMBER, occurred_at=NOW - timedelta(days=15)))
    figures = balance(engine, member_id)
    assert (figures["balance"], figures["debt"], figures["available"]) == (100, 0, 100)
    assert violations(engine) == []


def test_a_return_of_spent_points_records_a_shortfall_when_the_program_says_so(engine: Engine) -> None:
    publish(engine, seed_program(returns={"shortfall": "record_shortfall"}))
    member_id = register(engine)
    _earn_then_spend_it_all(engine, member_id)
    result = return_lines(engine, "a", "ra", [("1", 1)])
    assert (result["points_taken_back"], result["shortfall"], result["balance"]) == (300, 200, 0)
    figures = balance(engine, member_id)
    assert (figures["balance"], figures["debt"]) == (0, 0)
    assert violations(engine) == []
    # A later return of the order that spent the points gives them back in full.
    assert return_lines(engine, "b", "rb", [("1", 1)])["points_given_back"] == 700
    assert balance(engine, member_id)["balance"] == 700
    assert violations(engine) == []


# Resent offline orders and non-members


def test_a_resent_offline_order_never_earns_twice(seeded: Engine, member: int) -> None:
    body = order("till-7:123", ("tv", "10000", 1), member=MEMBER, occurred_at=NOW - timedelta(days=3), store="till-7")
    first = confirm(seeded, body, NOW)
    assert first["points_to_earn"] == 500
    earned = balance(seeded, member)["balance"]
    before = snapshot(seeded)
    for resent_at in (NOW + timedelta(minutes=1), NOW + timedelta(days=20)):
        assert confirm(seeded, body, resent_at) == first
    assert snapshot(seeded) == before
    # Even after the order was returned, resending it neither earns again nor undoes the return.
    return_lines(seeded, "till-7:123", "r1", [("1", 1)], NOW + timedelta(days=1))
    after_return = snapshot(seeded)
    assert confirm(seeded, body, NOW + timedelta(days=2)) == first
    assert snapshot(seeded) == after_return
    assert balance(seeded, member)["balance"] == earned - 500
    assert [e["kind"] for e in entries(seeded, member)].count("earn") == 1


@pytest.mark.usefixtures("member")
def test_orders_of_non_members_are_returned_without_points(seeded: Engine) -> None:
    confirm(seeded, order("guest", ("tv", "1000", 2)))
    before = snapshot(seeded)["accounts"]
    result = return_lines(seeded, "guest", "r1", [("1", 1)])
    assert (result["points_taken_back"], result["points_given_back"], result["balance"]) == (0, 0, None)
    assert result["lines"][0]["amount_refunded"] == "1000.00"
    assert cancel(seeded, "guest")["status"] == "cancelled"
    assert snapshot(seeded)["accounts"] == before
    assert violations(seeded) == []


# Cancellation


def test_cancel_returns_what_is_left_and_is_idempotent(seeded: Engine, rich_member: int) -> None:
    confirm(seeded, order("p", ("cup", "1000", 3), ("pot", "700", 1), member=MEMBER, points=900))
    return_lines(seeded, "p", "r1", [("1", 1)])
    cancelled = cancel(seeded, "p")
    assert cancelled["status"] == "cancelled"
    assert [(line["line_id"], line["quantity"]) for line in cancelled["lines"]] == [("1", 2), ("2", 1)]
    assert balance(seeded, rich_member)["balance"] == 1000
    before = snapshot(seeded)
    assert cancel(seeded, "p") == cancelled
    assert snapshot(seeded) == before
    with pytest.raises(Conflict):
        return_lines(seeded, "p", "r2", [("2", 1)])
    assert snapshot(seeded) == before
    assert violations(seeded) == []


def test_cancel_of_a_fully_returned_order_moves_nothing(seeded: Engine, member: int) -> None:
    confirm(seeded, order("e", ("cup", "1000", 2), member=MEMBER))
    return_lines(seeded, "e", "r1", [("1", 2)])
    before = balance(seeded, member)["balance"]
    result = cancel(seeded, "e")
    assert (result["status"], result["points_taken_back"], result["points_given_back"]) == ("cancelled", 0, 0)
    assert balance(seeded, member)["balance"] == before
    assert violations(seeded) == []


def test_cancel_of_a_reservation_releases_it_for_good(seeded: Engine, rich_member: int) -> None:
    body = order("r", ("tv", "2000", 1), member=MEMBER, points=800)
    reserve(seeded, body)
    assert balance(seeded, rich_member)["held"] == 800
    result = cancel(seeded, "r")
    assert (result["status"], result["points_released"]) == ("cancelled", 800)
    assert balance(seeded, rich_member)["available"] == 1000
    before = snapshot(seeded)
    with pytest.raises(Conflict):
        run(seeded, lambda uow: checkout.confirm(uow, None, NOW, order_key="r"))
    with pytest.raises(Conflict):
        confirm(seeded, body)
    with pytest.raises(Conflict):
        return_lines(seeded, "r", "r1", [("1", 1)])
    assert snapshot(seeded) == before


def _minor(money: str) -> int:
    units, cents = money.split(".")
    return int(units) * 100 + int(cents)
