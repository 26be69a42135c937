"""The checkout quote: what a cart may pay with points and what it earns, per line, with the explanation.

Programs are built from documents, as a marketer writes them; amounts are in roubles as the till sends them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.checkout.cart import Cart, CartLine
from loyalty.checkout.quote import Quote, quote
from loyalty.core.errors import InsufficientPoints, InvalidInput
from loyalty.core.money import parse_money
from loyalty.program.document import parse_program
from loyalty.program.model import Program

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def program(**sections: Any) -> Program:
    document: dict[str, Any] = {
        "name": "Test",
        "timezone": "Europe/Moscow",
        "earning": {"rules": [{"id": "base", "name": "Cashback", "percent": 5}]},
    }
    document.update(sections)
    return parse_program(document)


def rub(amount: str) -> int:
    return parse_money(amount, 2, "amount")


def cart(*lines: str | tuple[str, str | None], discount: str = "0", **fields: Any) -> Cart:
    """A cart of one-unit lines given as "price" or ("price", "category")."""
    built = []
    for i, item in enumerate(lines):
        price, category = (item, "clothes") if isinstance(item, str) else item
        built.append(CartLine(f"l{i}", f"sku-{i}", category, 1, rub(price)))
    return Cart(tuple(built), fields.pop("occurred_at", AT), discount=rub(discount), **fields)


def price(p: Program, c: Cart, *, available: int = 0, requested: int = 0, is_member: bool = True) -> Quote:
    return quote(p, c, available=available, requested=requested, is_member=is_member)


def reason(q: Quote, source: str) -> tuple[str, int]:
    found = [(r.outcome, r.points) for r in q.reasons if r.source == source]
    assert len(found) == 1, q.reasons
    return found[0]


# --- earning -----------------------------------------------------------------------------------------------------


def test_five_percent_cashback_on_ten_thousand_roubles_earns_500_points() -> None:
    q = price(program(), cart("10000.00"))
    assert q.total == rub("10000")
    assert q.points_to_earn == 500
    assert q.lines[0].points_earned == 500
    assert q.earned_by_rule == {"base": 500}
    assert reason(q, "base") == ("applied", 500)
    assert q.amount_to_pay == rub("10000")


def test_fractions_of_a_point_round_as_the_program_says() -> None:
    # 5% of 99.99 ₽ is 4.9995 points.
    assert price(program(), cart("99.99")).points_to_earn == 4
    half_up = program(earning={"rules": [{"id": "base", "percent": 5}], "rounding": "half_up"})
    assert price(half_up, cart("99.99")).points_to_earn == 5
    up = program(earning={"rules": [{"id": "base", "percent": 5}], "rounding": "up"})
    assert price(up, cart("80.01")).points_to_earn == 5


def test_earned_points_are_spread_over_lines_and_add_up() -> None:
    q = price(program(), cart("333.33", "333.33", "333.34"))
    assert q.points_to_earn == 50  # 5% of 1,000 ₽
    assert [line.points_earned for line in q.lines] == [17, 16, 17]  # the largest remainders win


def test_a_point_worth_fifty_kopecks_doubles_the_points() -> None:
    p = program(point_value="0.5")
    q = price(p, cart("10000.00"), available=1000, requested=100)
    assert q.points_money == rub("50")
    assert q.amount_to_pay == rub("9950")
    # The earning base is what was paid in money: 5% of 9,950 ₽ in half-rouble points.
    assert q.points_to_earn == 995


@pytest.mark.parametrize(
    ("amount", "points"), [("800", 40), ("1000", 50), ("1000.01", 100), ("1500", 150), ("2000", 200)]
)
def test_amount_bands_pick_the_rate_by_the_order_amount(amount: str, points: int) -> None:
    p = program(
        earning={
            "rules": [{"id": "bands", "bands": [{"up_to": "1000", "percent": 5}, {"up_to": "2000", "percent": 10}]}]
        }
    )
    assert price(p, cart(amount)).points_to_earn == points


def test_above_the_last_band_its_rate_still_applies() -> None:
    p = program(
        earning={
            "rules": [{"id": "bands", "bands": [{"up_to": "1000", "percent": 5}, {"up_to": "2000", "percent": 10}]}]
        }
    )
    assert price(p, cart("2500")).points_to_earn == 250


@pytest.mark.parametrize(("amount", "points"), [("999.99", 0), ("1000", 1000), ("2999", 2000), ("3000", 3000)])
def test_per_step_earns_for_every_full_step_only(amount: str, points: int) -> None:
    p = program(earning={"rules": [{"id": "steps", "per_step": {"every": "1000", "points": 1000}}]})
    assert price(p, cart(amount)).points_to_earn == points


def test_excluded_categories_never_earn() -> None:
    p = program(earning={"rules": [{"id": "base", "percent": 5}], "excluded_categories": ["delivery", "gift_card"]})
    q = price(p, cart(("1000", "shoes"), ("300", "delivery"), ("5000", "gift_card")))
    assert q.points_to_earn == 50
    assert [line.points_earned for line in q.lines] == [50, 0, 0]


def test_only_excluded_categories_earn_nothing_and_explain_no_rule() -> None:
    p = program(earning={"rules": [{"id": "base", "percent": 5}], "excluded_categories": ["gift_card"]})
    q = price(p, cart(("5000", "gift_card")))
    assert q.points_to_earn == 0


def test_rules_stack_by_sum_and_conditions_pick_lines() -> None:
    p = program(
        earning={
            "rules": [
                {"id": "base", "percent": 5},
                {"id": "shoes", "percent": 5, "categories": ["shoes"]},
                {"id": "no-sale", "percent": 1, "exclude_skus": ["sku-1"]},
            ]
        }
    )
    q = price(p, cart(("2000", "shoes"), ("1000", "bags")))
    assert q.earned_by_rule == {"base": 150, "shoes": 100, "no-sale": 20}
    assert q.points_to_earn == 270
    assert [line.points_earned for line in q.lines] == [100 + 100 + 20, 50]


def test_an_order_condition_that_fails_is_explained() -> None:
    p = program(earning={"rules": [{"id": "app", "name": "App bonus", "percent": 10, "channels": ["app"]}]})
    q = price(p, cart("1000", channel="web"))
    assert q.points_to_earn == 0
    outcome, _ = reason(q, "app")
    assert outcome == "blocked"
    assert "channel web is not one of app" in next(r.message for r in q.reasons if r.source == "app")
    assert price(p, cart("1000", channel="app")).points_to_earn == 100


def test_a_minimum_order_amount_applies_to_the_order_total() -> None:
    p = program(earning={"rules": [{"id": "big", "fixed_points": 300, "min_order_amount": "5000"}]})
    assert price(p, cart("4999.99")).points_to_earn == 0
    assert reason(price(p, cart("4999.99")), "big")[0] == "blocked"
    assert price(p, cart("3000", "2000")).points_to_earn == 300


def test_a_per_order_cap_limits_a_rule_and_says_so() -> None:
    p = program(earning={"rules": [{"id": "base", "percent": 5, "max_points_per_order": 300}]})
    q = price(p, cart("10000"))
    assert q.points_to_earn == 300
    assert ("limited", 300) in [(r.outcome, r.points) for r in q.reasons if r.source == "base"]


def test_non_members_earn_nothing_unless_the_program_says_otherwise() -> None:
    q = price(program(), cart("10000"), is_member=False)
    assert q.points_to_earn == 0
    assert reason(q, "earning")[0] == "blocked"
    everyone = program(earning={"rules": [{"id": "base", "percent": 5}], "members_only": False})
    assert price(everyone, cart("10000"), is_member=False).points_to_earn == 500


def test_an_order_wide_discount_lowers_the_earning_base_of_every_line() -> None:
    q = price(program(), cart("6000", "4000", discount="1000"))
    assert q.total == rub("9000")
    assert [line.amount for line in q.lines] == [rub("5400"), rub("3600")]
    assert q.points_to_earn == 450


def test_a_line_discount_lowers_that_line_only() -> None:
    c = Cart(
        (CartLine("a", "sku-a", "shoes", 2, rub("3000"), rub("1000")), CartLine("b", "sku-b", "bags", 1, rub("1000"))),
        AT,
    )
    q = price(program(), c)
    assert [line.amount for line in q.lines] == [rub("5000"), rub("1000")]
    assert [line.points_earned for line in q.lines] == [250, 50]


# --- redemption --------------------------------------------------------------------------------------------------


def test_below_the_minimum_check_points_cannot_pay() -> None:
    p = program(redemption={"min_check": "1000"})
    q = price(p, cart("999.99"), available=5000, requested=500)
    assert q.max_points == 0
    assert q.points_applied == 0
    assert q.amount_to_pay == rub("999.99")
    assert reason(q, "redemption.min_check")[0] == "blocked"
    # The order still earns its cashback.
    assert q.points_to_earn == 49


def test_at_the_minimum_check_points_can_pay() -> None:
    p = program(redemption={"min_check": "1000"})
    q = price(p, cart("1000.00"), available=5000, requested=500)
    assert q.max_points == 1000
    assert q.points_applied == 500
    assert q.amount_to_pay == rub("500")
    assert not [r for r in q.reasons if r.source == "redemption.min_check"]


def test_up_to_99_percent_of_the_order_is_payable() -> None:
    p = program(redemption={"max_share_percent": 99})
    q = price(p, cart("10000"), available=20000, requested=10000)
    assert q.max_points == 9900
    assert q.points_applied == 9900
    assert q.amount_to_pay == rub("100")
    assert reason(q, "redemption.max_share_percent") == ("limited", 9900)
    assert reason(q, "redemption") == ("limited", 9900)


def test_up_to_half_of_the_order_is_payable() -> None:
    p = program(redemption={"max_share_percent": 50})
    q = price(p, cart("6000", "4000"), available=20000, requested=5000)
    assert q.max_points == 5000
    assert q.points_applied == 5000
    assert [line.points_applied for line in q.lines] == [3000, 2000]
    assert [line.amount_to_pay for line in q.lines] == [rub("3000"), rub("2000")]


def test_the_balance_limits_the_maximum() -> None:
    q = price(program(), cart("10000"), available=300)
    assert q.max_points == 300
    assert q.points_applied == 0  # nothing requested, nothing applied


def test_asking_for_more_than_the_balance_is_an_error_naming_points() -> None:
    with pytest.raises(InsufficientPoints) as caught:
        price(program(), cart("10000"), available=300, requested=301)
    assert caught.value.problems[0].path == "points"


def test_asking_for_negative_points_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="points: must not be negative"):
        price(program(), cart("10000"), available=300, requested=-1)


def test_a_non_member_cannot_pay_with_points() -> None:
    with pytest.raises(InvalidInput, match="only a member"):
        price(program(), cart("10000"), available=300, requested=100, is_member=False)
    q = price(program(), cart("10000"), is_member=False)
    assert q.max_points == 0


def test_whole_points_never_leave_a_line_negative_and_kopecks_stay_payable_in_money() -> None:
    q = price(program(), cart("1000.50", "0.99"), available=5000, requested=1001)
    assert q.max_points == 1000
    assert [line.points_applied for line in q.lines] == [1000, 0]
    assert q.amount_to_pay == rub("1.49")


def test_excluded_categories_cannot_be_paid_with_points() -> None:
    p = program(redemption={"excluded_categories": ["gift_card"]})
    q = price(p, cart(("3000", "clothes"), ("5000", "gift_card")), available=10000, requested=8000)
    assert q.max_points == 3000
    assert [line.points_applied for line in q.lines] == [3000, 0]
    assert q.amount_to_pay == rub("5000")
    assert reason(q, "redemption.excluded_categories")[0] == "limited"


def test_the_share_counts_only_the_payable_lines() -> None:
    p = program(redemption={"max_share_percent": 50, "excluded_categories": ["gift_card"]})
    q = price(p, cart(("3000", "clothes"), ("5000", "gift_card")), available=10000, requested=8000)
    assert q.max_points == 1500


def test_earn_or_spend_an_order_paid_partly_with_points_earns_nothing() -> None:
    p = program(redemption={"earn_or_spend": True})
    q = price(p, cart("10000"), available=1000, requested=1)
    assert q.points_applied == 1
    assert q.points_to_earn == 0
    assert all(line.points_earned == 0 for line in q.lines)
    assert reason(q, "redemption.earn_or_spend")[0] == "blocked"
    # The same order paid in money earns as usual.
    assert price(p, cart("10000"), available=1000).points_to_earn == 500


def test_without_earn_or_spend_the_part_paid_with_points_does_not_earn() -> None:
    q = price(program(), cart("10000"), available=2000, requested=2000)
    assert q.points_to_earn == 400  # 5% of the 8,000 ₽ paid in money
    assert not [r for r in q.reasons if r.source == "redemption.earn_or_spend"]


# --- pending and expiry on the quote -----------------------------------------------------------------------------


def test_pending_points_become_available_after_the_return_window() -> None:
    p = program(earning={"rules": [{"id": "base", "percent": 5}], "pending_days": 14})
    q = price(p, cart("10000"))
    assert q.available_at == AT + timedelta(days=14)


def test_the_quote_says_when_the_points_will_expire() -> None:
    assert price(program(), cart("100")).expires_at is None
    assert price(program(expiry={"after_days": 365}), cart("100")).expires_at == AT + timedelta(days=365)
    pending = program(
        earning={"rules": [{"id": "base", "percent": 5}], "pending_days": 14},
        expiry={"after_days": 365, "starts": "available"},
    )
    assert price(pending, cart("100")).expires_at == AT + timedelta(days=14 + 365)
    yearly = program(expiry={"every_year_on": "11-30"})
    assert price(yearly, cart("100")).expires_at == datetime(2026, 11, 30, 21, 0, tzinfo=UTC)  # 1 Dec 00:00 MSK


# --- the cart itself ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "path"),
    [
        (Cart((), AT), "lines"),
        (Cart((CartLine("a", "s", None, 0, 100),), AT), "lines[0].quantity"),
        (Cart((CartLine("a", "s", None, 1, -100),), AT), "lines[0].price"),
        (Cart((CartLine("a", "s", None, 2, 100, 201),), AT), "lines[0].discount"),
        (Cart((CartLine("a", "s", None, 1, 100), CartLine("a", "t", None, 1, 100)), AT), "lines[1].line_id"),
        (Cart((CartLine("a", "s", None, 1, 100),), datetime(2026, 3, 10, 12, 0)), "occurred_at"),  # noqa: DTZ001
        (Cart((CartLine("a", "s", None, 1, 100),), AT, discount=101), "discount"),
        (Cart((CartLine("a", "s", None, 1, 100),), AT, discount=-1), "discount"),
    ],
)
def test_a_malformed_cart_is_refused_naming_the_field(c: Cart, path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        price(program(), c)
    assert path in [p.path for p in caught.value.problems]


def test_a_free_line_is_allowed_and_earns_nothing() -> None:
    q = price(program(), cart("0", "1000"))
    assert [line.points_earned for line in q.lines] == [0, 50]


# --- properties --------------------------------------------------------------------------------------------------

CATEGORIES = ["clothes", "shoes", "delivery", "gift_card", None]


@st.composite
def programs(draw: st.DrawFn) -> Program:
    rules: list[dict[str, Any]] = [{"id": "base", "percent": str(draw(st.decimals(0, 20, places=2)))}]
    if draw(st.booleans()):
        rules.append({"id": "bands", "bands": [{"up_to": "1000", "percent": 5}, {"up_to": "2000", "percent": 10}]})
    if draw(st.booleans()):
        rules.append({"id": "steps", "per_step": {"every": "1000", "points": 1000}, "categories": ["shoes"]})
    if draw(st.booleans()):
        rules.append({"id": "fixed", "fixed_points": 100, "max_points_per_order": 50})
    return program(
        point_value=draw(st.sampled_from(["1", "0.5", "0.01", "3", "1.37"])),
        earning={
            "rules": rules,
            "excluded_categories": draw(st.sampled_from([["delivery", "gift_card"], ["delivery"], None])),
            "rounding": draw(st.sampled_from(["down", "half_up", "up"])),
            "members_only": draw(st.booleans()),
        },
        redemption={
            "min_check": draw(st.sampled_from(["0", "1000", "500.50"])),
            "max_share_percent": str(draw(st.decimals(0, 100, places=1))),
            "excluded_categories": draw(st.sampled_from([["gift_card"], None])),
            "earn_or_spend": draw(st.booleans()),
        },
    )


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    lines = []
    for i in range(draw(st.integers(min_value=1, max_value=6))):
        quantity = draw(st.integers(min_value=1, max_value=5))
        unit_price = draw(st.integers(min_value=0, max_value=500_000))
        discount = draw(st.integers(min_value=0, max_value=quantity * unit_price))
        lines.append(CartLine(f"l{i}", f"sku-{i}", draw(st.sampled_from(CATEGORIES)), quantity, unit_price, discount))
    gross = sum(line.gross for line in lines)
    return Cart(tuple(lines), AT, discount=draw(st.integers(min_value=0, max_value=gross)))


@st.composite
def checkouts(draw: st.DrawFn) -> tuple[Program, Cart, int, int, bool]:
    is_member = draw(st.booleans())
    available = draw(st.integers(min_value=0, max_value=3_000_000))
    requested = draw(st.integers(min_value=0, max_value=available)) if is_member else 0
    return draw(programs()), draw(carts()), available, requested, is_member


@settings(max_examples=400)
@given(checkouts())
def test_quote_invariants(case: tuple[Program, Cart, int, int, bool]) -> None:
    p, c, available, requested, is_member = case
    q = quote(p, c, available=available, requested=requested, is_member=is_member)
    value = p.point_value

    assert 0 <= q.points_applied <= q.max_points <= available
    assert q.points_applied == min(requested, q.max_points)  # the customer gets what they asked, up to the max
    assert sum(line.points_applied for line in q.lines) == q.points_applied
    assert sum(line.points_earned for line in q.lines) == q.points_to_earn
    assert q.points_to_earn == sum(q.earned_by_rule.values())
    assert q.points_money == q.points_applied * value
    assert q.amount_to_pay == q.total - q.points_applied * value
    assert q.total == sum(line.amount for line in q.lines)
    assert q.amount_to_pay == sum(line.amount_to_pay for line in q.lines)
    for line in q.lines:
        assert line.amount_to_pay >= 0
        assert line.points_earned >= 0
        if line.category in p.redemption.excluded_categories:
            assert line.points_applied == 0
        if line.category in p.earning.excluded_categories:
            assert line.points_earned == 0

    payable = sum(line.amount for line in q.lines if line.category not in p.redemption.excluded_categories)
    assert q.points_applied * value <= payable * p.redemption.max_share
    if q.total < p.redemption.min_check or not is_member:
        assert q.max_points == 0
    if p.redemption.earn_or_spend and q.points_applied > 0:
        assert q.points_to_earn == 0
    if not is_member and p.earning.members_only:
        assert q.points_to_earn == 0


@settings(max_examples=200)
@given(checkouts())
def test_paying_with_points_never_earns_more(case: tuple[Program, Cart, int, int, bool]) -> None:
    p, c, available, requested, is_member = case
    with_points = quote(p, c, available=available, requested=requested, is_member=is_member)
    without = quote(p, c, available=available, requested=0, is_member=is_member)
    # The part paid with points leaves the earning base, so it can only lower what the order earns.
    assert with_points.points_to_earn <= without.points_to_earn


@settings(max_examples=200)
@given(checkouts())
def test_the_quote_is_the_same_every_time(case: tuple[Program, Cart, int, int, bool]) -> None:
    p, c, available, requested, is_member = case
    first = quote(p, c, available=available, requested=requested, is_member=is_member)
    assert quote(p, c, available=available, requested=requested, is_member=is_member) == first


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from([Decimal(99), Decimal(50), Decimal("33.3")]))
def test_the_max_share_of_one_line_at_one_rouble_a_point(kopecks: int, percent: Decimal) -> None:
    p = program(redemption={"max_share_percent": str(percent)})
    q = price(p, Cart((CartLine("a", "s", None, 1, kopecks),), AT), available=10**9)
    # At 1 point = 1 ₽: the largest whole number of points within the share of the amount and within the amount.
    assert q.max_points == int(Decimal(kopecks) * percent / 100) // 100
