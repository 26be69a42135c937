"""The KPIs of a period, for the whole program and for each group of a dimension: read by a handful of grouped SQL
statements (`analytics.counts`, the same on SQLite and PostgreSQL); the formulas are `analytics.kpi`'s."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from loyalty.analytics import counts as read
from loyalty.analytics import dimensions
from loyalty.analytics.counts import Scope
from loyalty.analytics.dimensions import Dimension, MemberDimension
from loyalty.analytics.kpi import ORDER_DIMENSION_FIGURES, PeriodCounts, figures, order_figures, ratio
from loyalty.core.errors import InvalidInput
from loyalty.core.events import EventKind
from loyalty.core.money import format_money
from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

MAX_PERIOD = timedelta(days=3653)  # ten years: longer ranges are a mistake more often than a question
MONEY = frozenset({"revenue", "average_check", "historical_ltv", "liability_money"})


def check_period(start: datetime, end: datetime) -> None:
    """A period runs forwards and lasts at most ten years; InvalidInput naming `to` otherwise."""
    if end <= start:
        raise InvalidInput.at("to", f"must be after from ({start.isoformat()}); the period [from, to) is empty")
    if end - start > MAX_PERIOD:
        raise InvalidInput.at("to", f"the period may last at most {MAX_PERIOD.days} days")


def kpis(
    uow: UnitOfWork,
    start: datetime,
    end: datetime,
    *,
    by: str | None = None,
    only: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The KPIs of [start, end): every figure of all members and orders (`overall`), and the order figures of
    members' and non-members' orders apart. The previous period, for churn, is the same length just before.
    Split `by` a dimension of `analytics.dimensions`, the report also names it (`by`) and `groups` holds the figures
    of each of its groups (of the one group `only` when given), member dimensions as they stand at `now`; without a
    split it has neither key.

    Ready for JSON: money is a decimal string in the program's currency, ratios are decimal strings ("0.7000"),
    counts and points are integers, and a figure without a denominator is null. The currency and the point value
    are those of the program version in force at the period's end (the first version for a period before it)."""
    check_period(start, end)
    split = None if by is None else dimensions.dimension(by)
    at = end if now is None else now
    if split is not None and only is not None:
        dimensions.check_group(uow, split, only, at)
    program = _program_at(uow, end)
    counts, orders = _counts(uow, start, end, Scope())[None]
    report: dict[str, Any] = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": program.currency,
        "overall": _presented(figures(counts), program.exponent),
        "members": _presented(order_figures(*orders[True]), program.exponent),
        "non_members": _presented(order_figures(*orders[False]), program.exponent),
        "messages": messages(uow, start, end),
    }
    if split is not None:
        report["by"] = split.name
        report["groups"] = _groups(uow, start, end, split, only, at, program)
    return report


def messages(uow: UnitOfWork, start: datetime, end: datetime) -> dict[str, Any]:
    """Emails of the period: delivered to the mail server in it, and of those how many were opened and how many had
    a link followed (once per message however often; an open or a click may come after the period). Two grouped
    statements; messages sent by triggers (see Messaging)."""
    d, e = t.deliveries.c, t.events.c
    sent = (
        select(d.delivery_id)
        .where(d.channel == "email", d.status == "delivered", d.delivered_at >= start, d.delivered_at < end)
        .subquery()
    )
    delivered = int(uow.conn.execute(select(func.count()).select_from(sent)).scalar_one())
    reacted = dict.fromkeys((EventKind.MESSAGE_OPENED.value, EventKind.MESSAGE_CLICKED.value), 0)
    if delivered:
        tracked = select(e.kind, e.data["delivery_id"].as_integer().label("delivery_id")).where(
            e.kind.in_(list(reacted)), e.occurred_at >= start
        )
        tracked_sub = tracked.subquery()
        query = (
            select(tracked_sub.c.kind, func.count(func.distinct(tracked_sub.c.delivery_id)))
            .where(tracked_sub.c.delivery_id.in_(select(sent.c.delivery_id)))
            .group_by(tracked_sub.c.kind)
        )
        reacted.update((kind, int(n)) for kind, n in uow.conn.execute(query))
    opened, clicked = reacted[EventKind.MESSAGE_OPENED.value], reacted[EventKind.MESSAGE_CLICKED.value]
    return {
        "emails_delivered": delivered,
        "emails_opened": opened,
        "emails_clicked": clicked,
        "open_rate": _ratio_text(opened, delivered),
        "click_rate": _ratio_text(clicked, delivered),
    }


def _ratio_text(part: int, whole: int) -> str | None:
    value = ratio(part, whole)
    return None if value is None else str(value)


def _groups(
    uow: UnitOfWork, start: datetime, end: datetime, split: Dimension, only: str | None, now: datetime, program: Program
) -> list[dict[str, Any]]:
    """The figures of each group of `split` (only `only` when given), groups in order, the group None last."""
    exponent = program.exponent
    if isinstance(split, MemberDimension):
        groups = split.groups(uow, now).subquery("grouped")
        if only is not None:
            groups = select(groups).where(groups.c.grp == only).subquery("only")
        scope = Scope(members=groups)
    else:
        scope = Scope(orders=split.group, only=only)
    by_group = _counts(uow, start, end, scope)
    names = set(by_group) if only is None else {only}
    if only is None and split.known is not None:
        names |= set(split.known(uow, now))  # every segment or tier, those without members too
    shown = []
    for name in sorted(names, key=lambda n: (n is None, n or "")):
        counts, orders = by_group.get(name) or (_nothing(program.point_value), _NO_ORDERS.by_member)
        if isinstance(split, MemberDimension):  # a member group's orders are its members' orders
            shown.append({"group": name, "figures": _presented(figures(counts), exponent)})
            continue
        every = figures(counts)
        shown.append(
            {
                "group": name,
                "figures": _presented({k: every[k] for k in ORDER_DIMENSION_FIGURES}, exponent),
                "members": _presented(order_figures(*orders[True]), exponent),
                "non_members": _presented(order_figures(*orders[False]), exponent),
            }
        )
    return shown


_NO_ORDERS = read.OrderCounts(read.NO_ORDERS, 0, 0)


def _nothing(point_value: int | None) -> PeriodCounts:
    """The counts of a group without members or orders."""
    zero = dict.fromkeys(("registered", "active", "active_previous", "churned", "orders", "revenue"), 0)
    return PeriodCounts(
        **zero,
        member_orders=0,
        buying_members=0,
        repeat_members=0,
        member_revenue_to_date=0,
        point_value=point_value,
        **read.NO_POINTS,
    )


def _counts(
    uow: UnitOfWork, start: datetime, end: datetime, scope: Scope
) -> dict[Any, tuple[PeriodCounts, dict[bool, tuple[int, int]]]]:
    """The counts of each group of `scope`, with its (orders, revenue) of members' orders (True) and of
    non-members' (False). In a member scope the orders are the members' own; in an order scope the member counts
    are those of the members who ordered in the group in the period, and activity and registration, which the
    group's own orders decide, are left at 0 (`ORDER_DIMENSION_FIGURES` leaves their figures out)."""
    orders = read.orders(uow, start, end, scope)
    points = read.points(uow, start, end, scope)
    program = _program_at(uow, end)
    if scope.orders is None:
        to_date = read.member_revenue_to(uow, end, scope)
        registered = read.registered(uow, end, scope)
        activity = read.activity(uow, start, end, scope)
    else:  # the members of an order group are its buyers, whose revenue to date and points come with its orders
        to_date = {g: o.buyers_revenue_to_date or 0 for g, o in orders.items()}
        registered, activity = {g: o.buying for g, o in orders.items()}, {}
        for name, counted_orders in orders.items():
            held = points.setdefault(name, dict(read.NO_POINTS))
            held["points_outstanding"] = counted_orders.buyers_outstanding or 0
    counted: dict[Any, tuple[PeriodCounts, dict[bool, tuple[int, int]]]] = {}
    names = set(orders) | set(points) | set(registered) | set(activity) | set(to_date)
    for name in names:
        counted_orders = orders.get(name, _NO_ORDERS)
        by_member = dict(counted_orders.by_member)
        if scope.members is not None:  # a member group has no non-members' orders
            by_member[False] = (0, 0)
        (members_orders, members_revenue), (others_orders, others_revenue) = by_member[True], by_member[False]
        buying, repeat = counted_orders.buying, counted_orders.repeat
        active, active_previous, churned = activity.get(name, (0, 0, 0))
        counts = PeriodCounts(
            registered=registered.get(name, 0),
            active=active,
            active_previous=active_previous,
            churned=churned,
            orders=members_orders + others_orders,
            revenue=members_revenue + others_revenue,
            member_orders=members_orders,
            buying_members=buying,
            repeat_members=repeat,
            member_revenue_to_date=to_date.get(name, 0),
            point_value=program.point_value,
            **points.get(name, read.NO_POINTS),
        )
        counted[name] = (counts, by_member)
    return counted


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
