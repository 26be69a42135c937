"""The daily journal of the points liability: what an accountant posts to the general ledger.

Points are a deferred revenue liability ("Deferred revenue: loyalty points"). Each day of the period (a local day
in the program's time zone) has one line per movement that occurred in it, with the points, their money value (at
the point value of the program version each entry was made under) and the accounts debited and credited:

| movement            | ledger entries              | debit                               | credit                              |
|---------------------|-----------------------------|-------------------------------------|-------------------------------------|
| issued              | `earn`: points on purchases | Revenue deferred to loyalty points  | Deferred revenue: loyalty points    |
| issued_bonus        | `action`: bonuses           | Marketing expense: bonus points     | Deferred revenue: loyalty points    |
| redeemed            | `spend`                     | Deferred revenue: loyalty points    | Revenue: points redeemed            |
| expired             | `expire`                    | Deferred revenue: loyalty points    | Revenue: breakage                   |
| reversed_issue      | `return_earned`: take-backs | Deferred revenue: loyalty points    | Revenue deferred to loyalty points  |
| reversed_redemption | `return_spent`: give-backs  | Revenue: points redeemed            | Deferred revenue: loyalty points    |
| adjusted_credit     | `adjust`, adding            | Loyalty adjustments expense         | Deferred revenue: loyalty points    |
| adjusted_debit      | `adjust`, deducting         | Deferred revenue: loyalty points    | Loyalty adjustments expense         |
| revaluation         | (a new point value)         | either way, see below               |                                     |

`points` is signed as the movement changes the liability (+ raises it); `amount` is the money posted, never
negative. The liability at a day's end is the sum of every entry before it, valued at the point value in force
then; when a new program version changes the point value, the day's `revaluation` line (money only) carries the
difference, so the money reconciles too: opening + the day's movements = closing, in points and in money."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from loyalty.analytics import cohort_queries as queries
from loyalty.analytics import periods
from loyalty.analytics.service import check_period
from loyalty.analytics.valuation import PointValues, program_before
from loyalty.core.money import format_money
from loyalty.ledger.model import EntryKind
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

LIABILITY = "Deferred revenue: loyalty points"
DEFERRED = "Revenue deferred to loyalty points"
REDEEMED = "Revenue: points redeemed"
BREAKAGE = "Revenue: breakage"
BONUS = "Marketing expense: bonus points"
ADJUSTMENTS = "Loyalty adjustments expense"


@dataclass(frozen=True)
class Movement:
    """A kind of journal line: its name and the account on the other side of the liability."""

    name: str
    counter_account: str


# (entry kind, adds points) → movement; the order is the order of a day's lines.
MOVEMENTS: dict[tuple[str, bool], Movement] = {
    (EntryKind.EARN.value, True): Movement("issued", DEFERRED),
    (EntryKind.ACTION.value, True): Movement("issued_bonus", BONUS),
    (EntryKind.SPEND.value, False): Movement("redeemed", REDEEMED),
    (EntryKind.EXPIRE.value, False): Movement("expired", BREAKAGE),
    (EntryKind.RETURN_EARNED.value, False): Movement("reversed_issue", DEFERRED),
    (EntryKind.RETURN_SPENT.value, True): Movement("reversed_redemption", REDEEMED),
    (EntryKind.ADJUST.value, True): Movement("adjusted_credit", ADJUSTMENTS),
    (EntryKind.ADJUST.value, False): Movement("adjusted_debit", ADJUSTMENTS),
}
REVALUATION = Movement("revaluation", "Loyalty points revaluation")
MOVEMENT_ORDER = [m.name for m in MOVEMENTS.values()] + [REVALUATION.name]


def _movement(kind: str, points: int) -> Movement:
    """A kind's movement; an entry of an unexpected sign (none is written today) is named after its kind."""
    found = MOVEMENTS.get((kind, points > 0))
    return found or Movement(f"{kind}_{'credit' if points > 0 else 'debit'}", ADJUSTMENTS)


def _line(movement: Movement, points: int, money: int, exponent: int) -> dict[str, Any]:
    """A journal line: a rise of the liability credits it, a fall debits it."""
    raises = money > 0 or (money == 0 and points > 0)
    return {
        "movement": movement.name,
        "points": points,
        "amount": format_money(abs(money), exponent),
        "debit": movement.counter_account if raises else LIABILITY,
        "credit": LIABILITY if raises else movement.counter_account,
    }


def journal(uow: UnitOfWork, start: datetime, end: datetime) -> dict[str, Any]:
    """The daily journal of [start, end), ready for JSON: the opening liability, each day with movements (its
    lines and closing liability) and the closing liability, money as decimal strings in the program's currency."""
    check_period(start, end)
    program = program_before(uow, end)
    exponent, values = program.exponent, PointValues(uow)
    days = periods.days(start, end, program.timezone)
    moved = _movements(uow, days)
    points = queries.points_before(uow, start)
    money = points * values.before(start)
    opening = {"points": points, "money": format_money(money, exponent)}
    shown = []
    for number, day in enumerate(days):
        lines = []
        day_points, day_money = 0, 0
        for (kind, _, version), n in sorted(moved.get(number, {}).items(), key=_by_movement):
            amount = n * values.of_version(version, day.end)
            lines.append(_line(_movement(kind, n), n, amount, exponent))
            day_points, day_money = day_points + n, day_money + amount
        closing_points = points + day_points
        closing_money = closing_points * values.before(day.end)
        revaluation = closing_money - money - day_money
        if revaluation:
            lines.append(_line(REVALUATION, 0, revaluation, exponent))
        points, money = closing_points, closing_money
        if lines:
            shown.append(
                {
                    "date": day.label,
                    "lines": lines,
                    "closing_points": points,
                    "closing_money": format_money(money, exponent),
                }
            )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": program.currency,
        "opening": opening,
        "days": shown,
        "closing": {"points": points, "money": format_money(money, exponent)},
    }


Key = tuple[str, bool, int | None]  # an entry kind, whether its entries add points, the program version


def _by_movement(item: tuple[Key, int]) -> tuple[int, int]:
    (kind, adds, version), _ = item
    name = _movement(kind, 1 if adds else -1).name
    return (MOVEMENT_ORDER.index(name) if name in MOVEMENT_ORDER else len(MOVEMENT_ORDER), version or 0)


def _movements(uow: UnitOfWork, days: list[periods.Bucket]) -> dict[int, dict[Key, int]]:
    """{day: {(kind and sign, program version): points}}: the period's entries grouped by local day, kind, sign
    and version in one statement, the credits and debits of a kind apart."""
    e = t.ledger_entries.c
    day = periods.bucket_of(e.occurred_at, days).label("day")
    adds = case((e.points > 0, 1), else_=0).label("adds")
    rows = uow.conn.execute(
        select(day, e.kind, adds, e.program_version, func.sum(e.points))
        .where(e.occurred_at >= days[0].start, e.occurred_at < days[-1].end, e.points != 0)
        .group_by(day, e.kind, adds, e.program_version)
    )
    grouped: dict[int, dict[Key, int]] = {}
    for number, kind, adds, version, points in rows:
        grouped.setdefault(int(number), {})[(kind, bool(adds), version)] = int(points)
    return grouped


CSV_COLUMNS = ("date", "movement", "points", "amount", "debit", "credit", "closing_points", "closing_money")


def csv_rows(report: dict[str, Any]) -> list[list[str]]:
    """The journal as CSV rows under `CSV_COLUMNS`: one per line, each with its day's closing liability."""
    return [
        [
            day["date"],
            line["movement"],
            str(line["points"]),
            line["amount"],
            line["debit"],
            line["credit"],
            str(day["closing_points"]),
            day["closing_money"],
        ]
        for day in report["days"]
        for line in day["lines"]
    ]
