"""The KPIs of a period, read by a handful of grouped SQL statements (the same on SQLite and PostgreSQL); the
formulas are `analytics.kpi`'s.

Orders are those confirmed (or confirmed and then cancelled, which returns every unit) whose `occurred_at` is in
the period. An order's net revenue is the sum over its lines of `amount - amount * returned_quantity // quantity`:
the part of a line's amount that came back is rounded down to a whole minor unit, as a tier's qualifying spend and
a segment's spend are, so the three agree to the unit. Returns are counted as they stand now, whenever they were
made: a line returned after the period still lowers that period's revenue, since it was not a sale in the end.
An order counts as an order unless every unit of it came back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select

from loyalty.analytics.kpi import PeriodCounts, figures, order_figures
from loyalty.core.errors import InvalidInput
from loyalty.core.money import format_money
from loyalty.ledger.model import EntryKind
from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

MAX_PERIOD = timedelta(days=3653)  # ten years: longer ranges are a mistake more often than a question
MONEY = frozenset({"revenue", "average_check", "historical_ltv", "liability_money"})
_SOLD = ("confirmed", "cancelled")
_ACTIVE_KINDS = (EntryKind.EARN.value, EntryKind.SPEND.value)


def check_period(start: datetime, end: datetime) -> None:
    """A period runs forwards and lasts at most ten years; InvalidInput naming `to` otherwise."""
    if end <= start:
        raise InvalidInput.at("to", f"must be after from ({start.isoformat()}); the period [from, to) is empty")
    if end - start > MAX_PERIOD:
        raise InvalidInput.at("to", f"the period may last at most {MAX_PERIOD.days} days")


def kpis(uow: UnitOfWork, start: datetime, end: datetime) -> dict[str, Any]:
    """The KPIs of [start, end): every figure of all members and orders (`overall`), and the order figures of
    members' and non-members' orders apart. The previous period, for churn, is the same length just before.

    Ready for JSON: money is a decimal string in the program's currency, ratios are decimal strings ("0.7000"),
    counts and points are integers, and a figure without a denominator is null. The currency and the point value
    are those of the program version in force at the period's end (the first version for a period before it)."""
    check_period(start, end)
    program = _program_at(uow, end)
    by_group = _orders(uow, start, end)
    members_orders, members_revenue = by_group.get(True, (0, 0))
    others_orders, others_revenue = by_group.get(False, (0, 0))
    buying, repeat = _buyers(uow, start, end)
    active, active_previous, churned = _activity(uow, start, end)
    points = _points(uow, start, end)
    counts = PeriodCounts(
        registered=uow.conn.execute(
            select(func.count()).select_from(t.members).where(t.members.c.registered_at < end)
        ).scalar_one(),
        active=active,
        active_previous=active_previous,
        churned=churned,
        orders=members_orders + others_orders,
        revenue=members_revenue + others_revenue,
        member_orders=members_orders,
        buying_members=buying,
        repeat_members=repeat,
        member_revenue_to_date=_member_revenue_to(uow, end),
        point_value=program.point_value,
        **points,
    )
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": program.currency,
        "overall": _presented(figures(counts), program.exponent),
        "members": _presented(order_figures(members_orders, members_revenue), program.exponent),
        "non_members": _presented(order_figures(others_orders, others_revenue), program.exponent),
    }


def _presented(values: Mapping[str, int | Decimal | bool | None], exponent: int) -> dict[str, Any]:
    """Money (`MONEY` fields, minor units) as decimal strings, ratios as decimal strings, the rest as it is."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Decimal):
            shown[name] = str(value)
        elif name in MONEY and isinstance(value, int):
            shown[name] = format_money(value, exponent)
        else:
            shown[name] = value
    return shown


def _order_nets(start: datetime | None, end: datetime) -> Any:
    """One row per sold order of [start, end) (from the beginning when start is None): its account, its net
    revenue and whether any unit of it was kept."""
    o, lines = t.orders, t.order_lines
    kept = lines.c.amount - (lines.c.amount * lines.c.returned_quantity) / lines.c.quantity
    query = (
        select(
            o.c.order_key,
            o.c.account_id,
            func.sum(kept).label("net"),
            func.max(case((lines.c.returned_quantity < lines.c.quantity, 1), else_=0)).label("bought"),
        )
        .select_from(o.join(lines, lines.c.order_key == o.c.order_key))
        .where(o.c.status.in_(_SOLD), o.c.occurred_at < end)
        .group_by(o.c.order_key, o.c.account_id)
    )
    return (query if start is None else query.where(o.c.occurred_at >= start)).subquery("nets")


def _orders(uow: UnitOfWork, start: datetime, end: datetime) -> dict[bool, tuple[int, int]]:
    """(orders, net revenue) of members' orders (True) and non-members' (False)."""
    nets = _order_nets(start, end)
    is_member = case((nets.c.account_id.is_(None), 0), else_=1).label("is_member")
    rows = uow.conn.execute(
        select(is_member, func.sum(nets.c.bought), func.coalesce(func.sum(nets.c.net), 0)).group_by(is_member)
    )
    return {bool(member): (int(orders or 0), int(revenue)) for member, orders, revenue in rows}


def _buyers(uow: UnitOfWork, start: datetime, end: datetime) -> tuple[int, int]:
    """Members with one order or more in the period, and with two or more."""
    nets = _order_nets(start, end)
    per_member = (
        select(func.sum(nets.c.bought).label("n"))
        .where(nets.c.account_id.is_not(None))
        .group_by(nets.c.account_id)
        .subquery("per_member")
    )
    n = per_member.c.n
    row = uow.conn.execute(select(func.sum(case((n >= 1, 1), else_=0)), func.sum(case((n >= 2, 1), else_=0)))).one()
    return int(row[0] or 0), int(row[1] or 0)


def _member_revenue_to(uow: UnitOfWork, end: datetime) -> int:
    nets = _order_nets(None, end)
    return int(
        uow.conn.execute(
            select(func.coalesce(func.sum(nets.c.net), 0)).where(nets.c.account_id.is_not(None))
        ).scalar_one()
    )


def _activity(uow: UnitOfWork, start: datetime, end: datetime) -> tuple[int, int, int]:
    """Members active in the period, in the previous one of the same length, and in that one but not this."""
    e = t.ledger_entries.c
    previous = start - (end - start)
    per_member = (
        select(
            func.max(case((e.occurred_at >= start, 1), else_=0)).label("now"),
            func.max(case((e.occurred_at < start, 1), else_=0)).label("before"),
        )
        .where(e.kind.in_(_ACTIVE_KINDS), e.occurred_at >= previous, e.occurred_at < end)
        .group_by(e.account_id)
        .subquery("activity")
    )
    a = per_member.c
    row = uow.conn.execute(
        select(
            func.coalesce(func.sum(a.now), 0),
            func.coalesce(func.sum(a.before), 0),
            func.coalesce(func.sum(case((and_(a.before == 1, a.now == 0), 1), else_=0)), 0),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _points(uow: UnitOfWork, start: datetime, end: datetime) -> dict[str, int]:
    """The period's points by what happened to them, the value of those redeemed, and what is outstanding at the
    end. Grouped by kind and program version: a few rows whatever the size of the ledger."""
    e = t.ledger_entries.c
    rows = uow.conn.execute(
        select(
            e.kind,
            e.program_version,
            func.sum(case((e.points > 0, e.points), else_=0)),
            func.sum(case((e.points < 0, e.points), else_=0)),
        )
        .where(e.occurred_at >= start, e.occurred_at < end)
        .group_by(e.kind, e.program_version)
    ).all()
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    redeemed_by_version: dict[int | None, int] = {}
    for kind, version, plus, minus in rows:  # one row per kind and version, not per entry
        added[kind] = added.get(kind, 0) + int(plus)
        removed[kind] = removed.get(kind, 0) + int(minus)
        if kind in (EntryKind.SPEND, EntryKind.RETURN_SPENT):
            redeemed_by_version[version] = redeemed_by_version.get(version, 0) - int(plus) - int(minus)
    outstanding = uow.conn.execute(select(func.coalesce(func.sum(e.points), 0)).where(e.occurred_at < end)).scalar_one()
    return {
        "points_issued": sum(added.get(k, 0) for k in (EntryKind.EARN, EntryKind.ACTION, EntryKind.ADJUST)),
        "points_redeemed": sum(redeemed_by_version.values()),
        "points_expired": -removed.get(EntryKind.EXPIRE, 0),
        "points_taken_back": -removed.get(EntryKind.RETURN_EARNED, 0) - removed.get(EntryKind.ADJUST, 0),
        "points_outstanding": int(outstanding),
        "redeemed_value": sum(
            points * programs.version(uow, version).program.point_value
            for version, points in redeemed_by_version.items()
            if points and version is not None  # the checkout records every spend under its version
        ),
    }


def _program_at(uow: UnitOfWork, end: datetime) -> Program:
    """The program in force at the period's last instant; for a period before the first version, that version
    (its currency and point value are the only ones there were). NoProgram when nothing was ever published."""
    try:
        return programs.version_at(uow, end - timedelta(microseconds=1)).program
    except programs.NoProgram:
        first = uow.conn.execute(select(func.min(t.program_versions.c.number))).scalar_one()
        if first is None:
            raise
        return programs.version(uow, first).program
