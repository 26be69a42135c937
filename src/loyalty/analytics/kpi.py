"""The KPIs of a period, computed exactly from its raw counts: plain integers in, integers and `Decimal` out.

A period is the instants [start, end). The counts (`PeriodCounts`) are read by `analytics.service`; here they become
the figures a marketer reads. The definitions:

- **registered**: members registered before the period's end.
- **active**: members with an `earn` or `spend` ledger entry that occurred in the period (they bought and earned, or
  paid with points). Registration and other action bonuses, expiry and adjustments do not make a member active.
- **engagement** = active / registered; 0.70 and above is good (`engagement_good`).
- **churn** = members active in the previous period of the same length but not in this one / members active in the
  previous period.
- **orders**: confirmed orders that occurred in the period and were not wholly returned (a cancelled order is wholly
  returned). **revenue**: their totals net of returns, in minor units (see `analytics.service` for the arithmetic).
- **repeat purchase rate** = members with two orders or more / members with one or more.
- **purchase frequency** = members' orders / members with one order or more.
- **average check** = revenue / orders, in minor units.
- **historical LTV** = members' revenue from the start of the history to the period's end / registered members,
  in minor units.
- **points issued**: earned on orders, given for actions and added by operators; **redeemed**: spent on orders,
  less spent points given back by returns; **expired**; **taken back**: by returns of the orders that earned
  them and by operators' deductions.
- **redemption rate** = redeemed / issued; **breakage** = expired / issued (both of the period's points, so
  points issued earlier and spent in the period can take them above 1).
- **outstanding liability**: the sum of every ledger entry before the period's end, in points and in money (points
  × the money one point is worth in the program version in force at the end, `Program.point_value`).
- **program cost** = the money value of the points redeemed (each at the point value of the version it was spent
  under) / revenue: a share, 0.0345 is 3.45% of revenue.

Ratios are `Decimal` rounded half to even to four places; money is an int in minor units, rounded half to even.
A ratio or an average whose denominator is zero is None: "no data" is not 0%."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

RATIO_PLACES = 4
# The figures of a group of orders (a store's, a channel's): registration, activity, engagement and churn are
# about members, whom an order group does not hold, and expiry burns an account's lots, not an order's points.
ORDER_DIMENSION_FIGURES = (
    "orders",
    "revenue",
    "average_check",
    "repeat_purchase_rate",
    "purchase_frequency",
    "historical_ltv",
    "points_issued",
    "points_redeemed",
    "points_taken_back",
    "redemption_rate",
    "liability_points",
    "liability_money",
    "program_cost_share",
)
ENGAGEMENT_LINE = Decimal("0.70")  # the article's line: 70% of registered members active is good


@dataclass(frozen=True)
class PeriodCounts:
    """The raw counts of one period [start, end); every figure of `figures` is derived from these alone."""

    registered: int
    active: int
    active_previous: int  # active in the previous period of the same length
    churned: int  # active in the previous period and not in this one
    orders: int
    revenue: int  # minor units, net of returns
    member_orders: int
    buying_members: int  # members with one order or more
    repeat_members: int  # members with two orders or more
    member_revenue_to_date: int  # members' net revenue from the start of the history to the period's end
    points_issued: int
    points_redeemed: int
    points_expired: int
    points_taken_back: int
    points_outstanding: int  # at the period's end
    point_value: int | None  # minor units one point is worth at the period's end (None: no program in force)
    redeemed_value: int  # minor units: the points redeemed, each at the point value it was spent under


def ratio(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator rounded half to even to four places, exactly (integer arithmetic, no intermediate
    rounding); None when the denominator is zero."""
    if denominator == 0:
        return None
    scale = 10**RATIO_PLACES
    return Decimal(divide_half_even(numerator * scale, denominator)).scaleb(-RATIO_PLACES)


def divide_half_even(numerator: int, denominator: int) -> int:
    """The integer nearest to numerator / denominator, ties to the even one; exact for any sign."""
    if denominator == 0:
        raise ZeroDivisionError("divide_half_even by zero")
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(abs(numerator), abs(denominator))
    twice = 2 * remainder
    if twice > abs(denominator) or (twice == abs(denominator) and quotient % 2 == 1):
        quotient += 1
    return -quotient if negative else quotient


def average(total: int, count: int) -> int | None:
    """total / count in whole minor units, half to even; None when there is nothing to average over."""
    return None if count == 0 else divide_half_even(total, count)


def engagement(counts: PeriodCounts) -> Decimal | None:
    return ratio(counts.active, counts.registered)


def engagement_good(value: Decimal | None) -> bool | None:
    """Whether engagement reaches the 70% line; None when there is no engagement to judge."""
    return None if value is None else value >= ENGAGEMENT_LINE


def figures(counts: PeriodCounts) -> dict[str, int | Decimal | bool | None]:
    """Every KPI of the period, by name, in the order they are shown."""
    engaged = engagement(counts)
    return {
        "registered_members": counts.registered,
        "active_members": counts.active,
        "engagement": engaged,
        "engagement_good": engagement_good(engaged),
        "churn": ratio(counts.churned, counts.active_previous),
        "orders": counts.orders,
        "revenue": counts.revenue,
        "average_check": average(counts.revenue, counts.orders),
        "repeat_purchase_rate": ratio(counts.repeat_members, counts.buying_members),
        "purchase_frequency": ratio(counts.member_orders, counts.buying_members),
        "historical_ltv": average(counts.member_revenue_to_date, counts.registered),
        "points_issued": counts.points_issued,
        "points_redeemed": counts.points_redeemed,
        "points_expired": counts.points_expired,
        "points_taken_back": counts.points_taken_back,
        "redemption_rate": ratio(counts.points_redeemed, counts.points_issued),
        "breakage": ratio(counts.points_expired, counts.points_issued),
        "liability_points": counts.points_outstanding,
        "liability_money": None if counts.point_value is None else counts.points_outstanding * counts.point_value,
        "program_cost_share": ratio(counts.redeemed_value, counts.revenue),
    }


def order_figures(orders: int, revenue: int) -> dict[str, int | None]:
    """The order figures of a group of orders (members', non-members')."""
    return {"orders": orders, "revenue": revenue, "average_check": average(revenue, orders)}


def change(before: Decimal | None, after: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
    """How a figure moved from `before` to `after`: the difference, exact, and the relative change (after -
    before) / |before| rounded half to even to four places (so a fall is negative whatever the sign of before).
    (None, None) when either value is missing; the relative change is None when before is 0."""
    if before is None or after is None:
        return None, None
    difference = after - before
    exponents = (before.as_tuple().exponent, after.as_tuple().exponent)
    places = max(0, *(-e for e in exponents if isinstance(e, int)))
    base = int(before.scaleb(places))
    return difference, ratio(int(difference.scaleb(places)), abs(base))


# What each figure counts, for typed exports: members or orders, points, money (minor units when computed, a
# decimal string in the program's currency when shown), a ratio with four places, or a yes/no flag.
UNITS = {
    "registered_members": "count",
    "active_members": "count",
    "engagement": "ratio",
    "engagement_good": "flag",
    "churn": "ratio",
    "orders": "count",
    "revenue": "money",
    "average_check": "money",
    "repeat_purchase_rate": "ratio",
    "purchase_frequency": "ratio",
    "historical_ltv": "money",
    "points_issued": "points",
    "points_redeemed": "points",
    "points_expired": "points",
    "points_taken_back": "points",
    "redemption_rate": "ratio",
    "breakage": "ratio",
    "liability_points": "points",
    "liability_money": "money",
    "program_cost_share": "ratio",
}
