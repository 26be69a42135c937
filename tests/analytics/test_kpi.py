"""The KPI formulas on plain counts: exact rounding, None for an empty denominator, the 70% line."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from loyalty.analytics.kpi import (
    ORDER_DIMENSION_FIGURES,
    UNITS,
    PeriodCounts,
    average,
    change,
    divide_half_even,
    engagement_good,
    figures,
    order_figures,
    ratio,
)

EMPTY = PeriodCounts(
    registered=0,
    active=0,
    active_previous=0,
    churned=0,
    orders=0,
    revenue=0,
    member_orders=0,
    buying_members=0,
    repeat_members=0,
    member_revenue_to_date=0,
    points_issued=0,
    points_redeemed=0,
    points_expired=0,
    points_taken_back=0,
    points_outstanding=0,
    point_value=100,
    redeemed_value=0,
)


def test_a_zero_denominator_is_none_not_zero() -> None:
    values = figures(EMPTY)
    for name in (
        "engagement",
        "engagement_good",
        "churn",
        "average_check",
        "repeat_purchase_rate",
        "purchase_frequency",
        "historical_ltv",
        "redemption_rate",
        "breakage",
        "program_cost_share",
    ):
        assert values[name] is None, name
    assert values["liability_money"] == 0
    assert order_figures(0, 0) == {"orders": 0, "revenue": 0, "average_check": None}


def test_ratios_round_half_to_even_at_four_places() -> None:
    assert ratio(2, 3) == Decimal("0.6667")
    assert ratio(1, 3) == Decimal("0.3333")
    # 1/16 = 0.0625 exactly; 1/32 = 0.03125 → ties to even 0.0312; 3/32 = 0.09375 → 0.0938
    assert ratio(1, 16) == Decimal("0.0625")
    assert ratio(1, 32) == Decimal("0.0312")
    assert ratio(3, 32) == Decimal("0.0938")
    assert str(ratio(7, 10)) == "0.7000"
    assert ratio(-1, 32) == Decimal("-0.0312")
    # exact where a 28-digit Decimal division would round twice: 0.00005 + 10^-40 must round up
    assert ratio(5 * 10**35 + 1, 10**40) == Decimal("0.0001")


def test_money_averages_are_whole_minor_units_half_to_even() -> None:
    assert average(5, 2) == 2  # 2.5 → 2
    assert average(7, 2) == 4  # 3.5 → 4
    assert average(10, 3) == 3
    assert average(-7, 2) == -4
    assert average(1, 0) is None
    assert divide_half_even(11, 4) == 3  # 2.75


def test_engagement_against_the_70_percent_line() -> None:
    assert engagement_good(Decimal("0.7000")) is True
    assert engagement_good(Decimal("0.6999")) is False
    assert engagement_good(None) is None
    seven_of_ten = figures(replace(EMPTY, registered=10, active=7))
    assert seven_of_ten["engagement"] == Decimal("0.7000")
    assert seven_of_ten["engagement_good"] is True
    # 2/3 rounds to 0.6667, below the line; 699/1000 is 0.6990
    assert figures(replace(EMPTY, registered=3, active=2))["engagement_good"] is False
    assert figures(replace(EMPTY, registered=1000, active=699))["engagement_good"] is False


def test_every_figure_from_one_set_of_counts() -> None:
    counts = replace(
        EMPTY,
        registered=4,
        active=3,
        active_previous=2,
        churned=1,
        orders=5,
        revenue=1_000_001,
        member_orders=4,
        buying_members=3,
        repeat_members=1,
        member_revenue_to_date=2_000_002,
        points_issued=800,
        points_redeemed=200,
        points_expired=100,
        points_taken_back=50,
        points_outstanding=450,
        point_value=100,
        redeemed_value=20_000,
    )
    assert figures(counts) == {
        "registered_members": 4,
        "active_members": 3,
        "engagement": Decimal("0.7500"),
        "engagement_good": True,
        "churn": Decimal("0.5000"),
        "orders": 5,
        "revenue": 1_000_001,
        "average_check": 200_000,  # 200,000.2
        "repeat_purchase_rate": Decimal("0.3333"),
        "purchase_frequency": Decimal("1.3333"),
        "historical_ltv": 500_000,  # 500,000.5 → ties to even
        "points_issued": 800,
        "points_redeemed": 200,
        "points_expired": 100,
        "points_taken_back": 50,
        "redemption_rate": Decimal("0.2500"),
        "breakage": Decimal("0.1250"),
        "liability_points": 450,
        "liability_money": 45_000,
        "program_cost_share": Decimal("0.0200"),  # 20,000 / 1,000,001 = 0.0199999...
    }


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**9))
def test_engagement_is_between_0_and_1(registered: int, active: int) -> None:
    active = min(active, registered)  # the active members are registered members
    value = figures(replace(EMPTY, registered=registered, active=active))["engagement"]
    assert value is None if registered == 0 else isinstance(value, Decimal) and 0 <= value <= 1


@given(st.integers(min_value=1, max_value=10**12), st.data())
def test_redemption_and_breakage_add_up_to_at_most_1_when_nothing_is_taken_back(
    issued: int, data: st.DataObject
) -> None:
    redeemed = data.draw(st.integers(min_value=0, max_value=issued))
    expired = data.draw(st.integers(min_value=0, max_value=issued - redeemed))
    values = figures(replace(EMPTY, points_issued=issued, points_redeemed=redeemed, points_expired=expired))
    rate, breakage = values["redemption_rate"], values["breakage"]
    assert isinstance(rate, Decimal)
    assert isinstance(breakage, Decimal)
    # each is rounded to 4 places, so their sum may exceed the exact sum by at most one unit in the last place
    assert rate + breakage <= Decimal("1.0001")
    assert abs(rate - Decimal(redeemed) / Decimal(issued)) <= Decimal("0.00005")


@given(st.integers(min_value=-(10**15), max_value=10**15), st.integers(min_value=1, max_value=10**9))
def test_half_even_division_is_the_nearest_integer(numerator: int, denominator: int) -> None:
    q = divide_half_even(numerator, denominator)
    assert abs(2 * (numerator - q * denominator)) <= denominator
    if abs(2 * (numerator - q * denominator)) == denominator:
        assert q % 2 == 0


def test_a_change_is_exact_and_relative_to_the_size_of_before() -> None:
    assert change(Decimal("0.5000"), Decimal("0.6000")) == (Decimal("0.1000"), Decimal("0.2000"))
    assert change(Decimal("2000.00"), Decimal("1500.00")) == (Decimal("-500.00"), Decimal("-0.2500"))
    assert change(Decimal(-200), Decimal(-100)) == (Decimal(100), Decimal("0.5000"))  # less negative: a rise
    assert change(Decimal(0), Decimal(5)) == (Decimal(5), None)  # from nothing: no relative change
    assert change(None, Decimal(5)) == (None, None)
    assert change(Decimal(3), None) == (None, None)
    assert change(Decimal(3), Decimal("3.0000")) == (Decimal("0.0000"), Decimal("0.0000"))


@given(
    st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-(10**12), max_value=10**12, places=4, allow_nan=False, allow_infinity=False),
)
def test_the_relative_change_is_the_exact_quotient_rounded_half_to_even(before: Decimal, after: Decimal) -> None:
    difference, relative = change(before, after)
    assert difference == after - before
    if before == 0:
        assert relative is None
        return
    exact = (Fraction(after) - Fraction(before)) / abs(Fraction(before)) * 10**4
    nearest = round(exact)  # Python rounds a Fraction half to even
    assert relative == Decimal(nearest).scaleb(-4)


def test_every_figure_has_a_unit_and_order_groups_keep_only_figures_that_exist() -> None:
    assert set(UNITS) == set(figures(EMPTY))
    assert set(ORDER_DIMENSION_FIGURES) < set(UNITS)
    assert not {"engagement", "churn", "breakage", "points_expired"} & set(ORDER_DIMENSION_FIGURES)
