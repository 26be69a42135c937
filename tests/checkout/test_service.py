"""The checkout use cases on both databases: calculate, confirm (exactly once), reserve, release, and the
seed program's figures (5% cashback, 1,000 ₽ minimum check, 99% maximum share, earn or spend, 14 pending days,
365-day expiry)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.core.errors import Conflict, InsufficientPoints, InvalidInput, NotFound
from loyalty.storage import tables as t
from tests.usecases import (
    MEMBER,
    NOW,
    balance,
    calculate,
    confirm,
    entries,
    order,
    read,
    register,
    reserve,
    run,
    snapshot,
    violations,
)

TEN_THOUSAND = order("o-10k", ("tv", "6000.00", 1), ("cable", "2000.00", 2), member=MEMBER)


def problem_paths(error: InvalidInput) -> list[str]:
    return [p.path for p in error.problems]


# Earning with the seed figures


def test_ten_thousand_roubles_earn_five_hundred_pending_points(seeded: Engine, member: int) -> None:
    result = confirm(seeded, TEN_THOUSAND)
    assert result["status"] == "confirmed"
    assert result["member_id"] == member
    assert result["total"] == "10000.00"
    assert result["points_to_earn"] == 500
    assert [line["points_to_earn"] for line in result["lines"]] == [300, 200]
    assert result["points_available_at"] == (NOW + timedelta(days=14)).isoformat()
    assert result["points_expire_at"] == (NOW + timedelta(days=365)).isoformat()
    # 500 for registering (spendable at once) and 500 pending for 14 days.
    now = balance(seeded, member)
    assert (now["balance"], now["available"], now["pending"]) == (1000, 500, 500)
    later = balance(seeded, member, NOW + timedelta(days=14))
    assert (later["balance"], later["available"], later["pending"]) == (1000, 1000, 0)
    assert violations(seeded) == []


def test_points_earned_are_recorded_with_the_program_version_and_rule(seeded: Engine, member: int) -> None:
    confirm(seeded, TEN_THOUSAND)
    earn = [e for e in entries(seeded, member) if e["kind"] == "earn"]
    assert len(earn) == 1
    assert (earn[0]["points"], earn[0]["program_version"], earn[0]["rule"], earn[0]["order_id"]) == (
        500,
        1,
        "base",
        "o-10k",
    )


# Exactly once


@pytest.mark.usefixtures("member")
def test_confirm_retry_returns_the_identical_result_and_writes_nothing(seeded: Engine) -> None:
    first = confirm(seeded, TEN_THOUSAND)
    before = snapshot(seeded)
    again = confirm(seeded, TEN_THOUSAND)
    assert again == first
    assert snapshot(seeded) == before


@pytest.mark.usefixtures("rich_member")
def test_a_retry_of_an_order_that_spent_every_point_returns_the_first_result(seeded: Engine) -> None:
    """The retry could not be paid again (the points are spent): it is the same order, not a new one refused."""
    body = order("o-all-in", ("tv", "2000.00", 1), member=MEMBER, points=1000)
    first = confirm(seeded, body)
    assert first["points_applied"] == 1000
    before = snapshot(seeded)
    assert confirm(seeded, body) == first
    assert snapshot(seeded) == before


@pytest.mark.usefixtures("member")
def test_confirm_retried_later_without_occurred_at_is_the_same_order(seeded: Engine) -> None:
    """A body without `occurred_at` means "now"; the retry a minute later is still the same order."""
    first = confirm(seeded, TEN_THOUSAND, NOW)
    before = snapshot(seeded)
    assert confirm(seeded, TEN_THOUSAND, NOW + timedelta(minutes=1)) == first
    assert confirm(seeded, TEN_THOUSAND, NOW + timedelta(days=3)) == first
    assert snapshot(seeded) == before


@pytest.mark.usefixtures("member")
def test_confirm_retried_days_later_with_its_occurred_at_is_the_same_order(seeded: Engine) -> None:
    body = {**TEN_THOUSAND, "occurred_at": (NOW - timedelta(hours=2)).isoformat()}
    first = confirm(seeded, body, NOW)
    before = snapshot(seeded)
    assert confirm(seeded, body, NOW + timedelta(days=30)) == first
    assert snapshot(seeded) == before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b["lines"][0].update(price="6000.01"), id="price"),
        pytest.param(lambda b: b["lines"][1].update(quantity=3), id="quantity"),
        pytest.param(lambda b: b["lines"].append({"sku": "x", "price": "1", "line_id": "9"}), id="extra-line"),
        pytest.param(lambda b: b.update(points=100), id="points"),
        pytest.param(lambda b: b.update(member={"phone": "+79123456780"}), id="member"),
        pytest.param(lambda b: b.pop("member"), id="no-member"),
        pytest.param(lambda b: b.update(store="another"), id="store"),
        pytest.param(lambda b: b.update(occurred_at=(NOW - timedelta(minutes=1)).isoformat()), id="occurred_at"),
    ],
)
def test_same_order_id_with_another_body_is_a_conflict_that_changes_nothing(
    seeded: Engine, rich_member: int, change: Any
) -> None:
    register(seeded, "+79123456780")
    first = confirm(seeded, TEN_THOUSAND)
    before = snapshot(seeded)
    body = {**TEN_THOUSAND, "lines": [dict(line) for line in TEN_THOUSAND["lines"]]}
    change(body)
    with pytest.raises(Conflict):
        confirm(seeded, body)
    assert snapshot(seeded) == before
    assert balance(seeded, rich_member)["balance"] == 1500
    assert confirm(seeded, TEN_THOUSAND) == first


@pytest.mark.usefixtures("member")
def test_money_written_differently_is_the_same_order(seeded: Engine) -> None:
    first = confirm(seeded, TEN_THOUSAND)
    body = {**TEN_THOUSAND, "lines": [dict(line) for line in TEN_THOUSAND["lines"]]}
    body["lines"][0]["price"] = "6000"
    body["lines"][1]["price"] = "2000.0"
    assert confirm(seeded, body) == first


# Bad input writes nothing


def _with_line(**changes: Any) -> dict[str, Any]:
    return order("bad", ("tv", "2000.00", 1), member=MEMBER) | {
        "lines": [{"line_id": "1", "sku": "tv", "quantity": 1, "price": "2000.00", **changes}]
    }


BAD_ORDERS: list[tuple[str, dict[str, Any], str]] = [
    ("negative quantity", _with_line(quantity=-1), "lines[0].quantity"),
    ("zero quantity", _with_line(quantity=0), "lines[0].quantity"),
    ("fractional quantity", _with_line(quantity=1.5), "lines[0].quantity"),
    ("malformed money", _with_line(price="12,3.4"), "lines[0].price"),
    ("float money", _with_line(price=10.5), "lines[0].price"),
    ("negative price", _with_line(price="-5"), "lines[0].price"),
    ("a fraction of a kopeck", _with_line(price="10.005"), "lines[0].price"),
    ("discount above the amount", _with_line(discount="2000.01"), "lines[0].discount"),
    ("missing sku", _with_line(sku=""), "lines[0].sku"),
    ("unknown phone", order("bad", ("tv", "2000", 1), member={"phone": "+79991112233"}), "member.phone"),
    ("unknown member id", order("bad", ("tv", "2000", 1), member={"member_id": 999}), "member.member_id"),
    ("invalid phone", order("bad", ("tv", "2000", 1), member={"phone": "12"}), "member.phone"),
    ("negative points", order("bad", ("tv", "2000", 1), member=MEMBER, points=-5), "points"),
    ("points without a member", order("bad", ("tv", "2000", 1), points=5), "points"),
    (
        "in the future",
        order("bad", ("tv", "2000", 1), member=MEMBER, occurred_at=NOW + timedelta(hours=1)),
        "occurred_at",
    ),
    ("no lines", order("bad", member=MEMBER), "lines"),
    (
        "duplicate line id",
        order("bad", ("tv", "2000", 1), ("tv", "10", 1), member=MEMBER)
        | {"lines": [{"line_id": "1", "sku": "tv", "price": "2000"}, {"line_id": "1", "sku": "cable", "price": "10"}]},
        "lines[1].line_id",
    ),
    ("order discount above the amount", order("bad", ("tv", "2000", 1), member=MEMBER, discount="2000.01"), "discount"),
]


@pytest.mark.parametrize("use_case", [checkout.confirm, checkout.reserve, checkout.calculate])
@pytest.mark.usefixtures("rich_member")
def test_bad_input_names_the_field_and_writes_nothing(seeded: Engine, use_case: Any) -> None:
    before = snapshot(seeded)
    for name, body, path in BAD_ORDERS:
        if use_case is checkout.reserve and name == "points without a member":
            path = "member"  # a reservation without a member is refused before its points are looked at
        with pytest.raises(InvalidInput) as caught:
            run(seeded, lambda uow, body=body: use_case(uow, parse_order(body, NOW), NOW))
        assert path in problem_paths(caught.value), (name, caught.value)
        assert snapshot(seeded) == before, name
    # Nothing was stored under the order id, so the fixed order goes through with the same id.
    fixed = order("bad", ("tv", "2000.00", 1), member=MEMBER)
    assert confirm(seeded, fixed)["status"] == "confirmed"


def test_points_above_the_balance_are_refused_and_write_nothing(seeded: Engine, rich_member: int) -> None:
    before = snapshot(seeded)
    body = order("big", ("tv", "5000", 1), member=MEMBER, points=1001)
    with pytest.raises(InsufficientPoints) as caught:
        confirm(seeded, body)
    assert problem_paths(caught.value) == ["points"]
    assert snapshot(seeded) == before
    assert confirm(seeded, {**body, "points": 1000})["points_applied"] == 1000
    assert balance(seeded, rich_member)["balance"] == 0


@pytest.mark.usefixtures("member")
def test_pending_points_cannot_be_spent(seeded: Engine) -> None:
    confirm(seeded, TEN_THOUSAND)  # 500 pending for 14 days, 500 spendable
    with pytest.raises(InsufficientPoints):
        confirm(seeded, order("spend", ("tv", "5000", 1), member=MEMBER, points=501))
    later = NOW + timedelta(days=14)
    result = confirm(seeded, order("spend", ("tv", "5000", 1), member=MEMBER, points=1000), later)
    assert result["points_applied"] == 1000


# calculate


@pytest.mark.usefixtures("rich_member")
def test_calculate_has_no_side_effects(seeded: Engine) -> None:
    body = order("q1", ("tv", "3000", 1), member=MEMBER, points=500)
    before = snapshot(seeded)
    first = calculate(seeded, body)
    assert calculate(seeded, body) == first
    assert first["status"] == "quote"
    assert first["points_applied"] == 500
    assert first["balance_available"] == 1000
    assert snapshot(seeded) == before
    # A quote holds nothing: another order may spend every point.
    assert confirm(seeded, order("other", ("tv", "3000", 1), member=MEMBER, points=1000))["points_applied"] == 1000
    # And the quoted order id is still free.
    assert confirm(seeded, order("q1", ("tv", "3000", 1), member=MEMBER))["status"] == "confirmed"


@pytest.mark.parametrize("points", [0, 1, 777, 1000])
def test_quote_and_confirm_give_the_same_numbers(seeded: Engine, rich_member: int, points: int) -> None:
    body = order(
        "same",
        ("a", "333.33", 3),
        ("b", "0.99", 1),
        ("c", "1234.57", 2),
        ("d", "17.01", 7),
        member=MEMBER,
        points=points,
    )
    quoted = calculate(seeded, body)
    confirmed = confirm(seeded, body)
    for key in ("status", "balance_available"):
        quoted.pop(key)
        confirmed.pop(key, None)
    assert quoted == confirmed
    assert sum(line["points_applied"] for line in confirmed["lines"]) == confirmed["points_applied"] == points
    assert sum(line["points_to_earn"] for line in confirmed["lines"]) == confirmed["points_to_earn"]
    total = sum(_minor(line["amount"]) for line in confirmed["lines"])
    assert total == _minor(confirmed["total"]) == 3589_19
    assert _minor(confirmed["amount_to_pay"]) == total - points * 100
    for line in confirmed["lines"]:
        assert _minor(line["amount_to_pay"]) == _minor(line["amount"]) - line["points_applied"] * 100
        assert _minor(line["amount_to_pay"]) >= 0
    # Earn or spend: an order paid partly with points earns nothing; otherwise 5%, rounded down.
    assert confirmed["points_to_earn"] == (0 if points else 179)
    assert balance(seeded, rich_member)["balance"] == 1000 - points + confirmed["points_to_earn"]


def _minor(money: str) -> int:
    units, cents = money.split(".")
    return int(units) * 100 + int(cents)


# Redemption limits


def test_below_the_minimum_check_no_points_are_spent(seeded: Engine, rich_member: int) -> None:
    result = confirm(seeded, order("small", ("a", "999.99", 1), member=MEMBER, points=100))
    assert (result["max_points"], result["points_applied"], result["amount_to_pay"]) == (0, 0, "999.99")
    assert "redemption.min_check" in [r["source"] for r in result["explanation"]]
    assert result["points_to_earn"] == 49  # 5% of 999.99, rounded down
    assert balance(seeded, rich_member)["balance"] == 1049


@pytest.mark.usefixtures("rich_member")
def test_at_the_minimum_check_points_are_spent(seeded: Engine) -> None:
    result = confirm(seeded, order("at-min", ("a", "1000.00", 1), member=MEMBER, points=100))
    assert result["points_applied"] == 100
    assert result["points_to_earn"] == 0  # earn or spend


def test_points_pay_at_most_99_percent(seeded: Engine, rich_member: int) -> None:
    result = confirm(seeded, order("share", ("a", "1000.00", 1), member=MEMBER, points=1000))
    assert (result["max_points"], result["points_applied"], result["amount_to_pay"]) == (990, 990, "10.00")
    assert balance(seeded, rich_member)["balance"] == 10


@pytest.mark.usefixtures("member")
def test_non_member_orders_are_recorded_and_earn_nothing(seeded: Engine) -> None:
    body = order("guest", ("tv", "10000", 1), channel="pos", store="msk-1")
    before = snapshot(seeded)
    result = confirm(seeded, body)
    assert (result["status"], result["member_id"], result["points_to_earn"]) == ("confirmed", None, 0)
    assert confirm(seeded, body) == result
    stored = read(seeded, lambda uow: uow.conn.execute(select(t.orders).where(t.orders.c.order_key == "guest")).one())
    assert (stored.account_id, stored.status, stored.total, stored.store) == (None, "confirmed", 1_000_000, "msk-1")
    after = snapshot(seeded)
    assert after["counts"]["orders"] == before["counts"]["orders"] + 1
    assert after["counts"]["ledger_entries"] == before["counts"]["ledger_entries"]
    assert after["accounts"] == before["accounts"]


# Reservations


def test_a_reservation_holds_its_points_until_released(seeded: Engine, rich_member: int) -> None:
    held = reserve(seeded, order("r1", ("tv", "2000", 1), member=MEMBER, points=800))
    assert (held["status"], held["points_applied"]) == ("reserved", 800)
    figures = balance(seeded, rich_member)
    assert (figures["balance"], figures["held"], figures["available"]) == (1000, 800, 200)
    second = order("o2", ("tv", "2000", 1), member=MEMBER, points=300)
    assert calculate(seeded, second | {"points": 0})["balance_available"] == 200
    before = snapshot(seeded)
    with pytest.raises(InsufficientPoints):
        confirm(seeded, second)
    with pytest.raises(InsufficientPoints):
        reserve(seeded, second | {"order_id": "r2"})
    assert snapshot(seeded) == before

    released = run(seeded, lambda uow: checkout.release(uow, "r1", NOW))
    assert released == {"order_id": "r1", "status": "released", "points_released": 800}
    assert run(seeded, lambda uow: checkout.release(uow, "r1", NOW))["status"] == "released"  # harmless twice
    assert balance(seeded, rich_member)["available"] == 1000
    assert confirm(seeded, second)["points_applied"] == 300
    # A released reservation cannot be confirmed any more.
    with pytest.raises(Conflict):
        run(seeded, lambda uow: checkout.confirm(uow, None, NOW, order_key="r1"))
    assert balance(seeded, rich_member)["balance"] == 700
    assert violations(seeded) == []


def test_a_reservation_past_its_hold_time_out_holds_nothing(seeded: Engine, rich_member: int) -> None:
    reserve(seeded, order("r1", ("tv", "2000", 1), member=MEMBER, points=800), NOW, timedelta(minutes=15))
    later = NOW + timedelta(minutes=15, seconds=1)
    figures = balance(seeded, rich_member, later)
    assert (figures["held"], figures["available"]) == (0, 1000)
    spent = confirm(seeded, order("o2", ("tv", "2000", 1), member=MEMBER, points=1000), later)
    assert spent["points_applied"] == 1000
    # The lapsed reservation can no longer take the points it held.
    with pytest.raises(InsufficientPoints):
        run(seeded, lambda uow: checkout.confirm(uow, None, later, order_key="r1"))
    assert balance(seeded, rich_member, later)["balance"] == 0
    assert violations(seeded) == []


def test_a_reservation_is_confirmed_by_its_order_id(seeded: Engine, rich_member: int) -> None:
    body = order("r1", ("tv", "2000", 1), ("bag", "500", 1), member=MEMBER, points=300)
    held = reserve(seeded, body)
    assert reserve(seeded, body) == held  # a retried reservation is the same one
    with pytest.raises(Conflict):
        reserve(seeded, body | {"points": 301})
    later = NOW + timedelta(minutes=5)
    result = run(seeded, lambda uow: checkout.confirm(uow, None, later, order_key="r1"))
    assert (result["status"], result["points_applied"], result["points_to_earn"]) == ("confirmed", 300, 0)
    assert [line["points_applied"] for line in result["lines"]] == [240, 60]
    figures = balance(seeded, rich_member, later)
    assert (figures["balance"], figures["held"], figures["available"]) == (700, 0, 700)
    # Every retry, by id or with the body, gets the same result and spends nothing more.
    before = snapshot(seeded)
    assert run(seeded, lambda uow: checkout.confirm(uow, None, later, order_key="r1")) == result
    assert confirm(seeded, body, later) == result
    assert reserve(seeded, body, later) == result
    assert snapshot(seeded) == before
    with pytest.raises(Conflict):
        run(seeded, lambda uow: checkout.release(uow, "r1", later))
    spends = [e for e in entries(seeded, rich_member) if e["kind"] == "spend"]
    assert [(e["points"], e["order_id"]) for e in spends] == [(-300, "r1")]
    assert violations(seeded) == []


def test_a_reservation_is_confirmed_by_its_body_without_occurred_at(seeded: Engine, rich_member: int) -> None:
    body = order("r1", ("tv", "2000", 1), member=MEMBER, points=300)
    reserve(seeded, body, NOW)
    result = confirm(seeded, body, NOW + timedelta(minutes=3))
    assert (result["status"], result["points_applied"]) == ("confirmed", 300)
    assert result["occurred_at"] == NOW.isoformat()  # the order happened when it was reserved
    assert balance(seeded, rich_member)["balance"] == 700


@pytest.mark.usefixtures("member")
def test_reservation_needs_a_member_and_confirming_an_unknown_id_is_not_found(seeded: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        reserve(seeded, order("r1", ("tv", "2000", 1)))
    assert problem_paths(caught.value) == ["member"]
    with pytest.raises(NotFound):
        run(seeded, lambda uow: checkout.confirm(uow, None, NOW, order_key="nope"))
    with pytest.raises(NotFound):
        run(seeded, lambda uow: checkout.release(uow, "nope", NOW))
