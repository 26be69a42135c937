"""The grouped statements the KPIs are read by, the same on SQLite and PostgreSQL: each returns its counts per group
of a `Scope` (the whole program is one group, None), in a few rows whatever the size of the history.

Orders are those confirmed (or confirmed and then cancelled, which returns every unit) whose `occurred_at` is in
the period. An order's net revenue is the sum over its lines of `amount - amount * returned_quantity // quantity`:
the part of a line's amount that came back is rounded down to a whole minor unit, as a tier's qualifying spend and
a segment's spend are, so the three agree to the unit. Returns are counted as they stand now, whenever they were
made: a line returned after the period still lowers that period's revenue, since it was not a sale in the end.
An order counts as an order unless every unit of it came back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Row, Select, Subquery, and_, case, func, select

from loyalty.analytics.dimensions import OrderGroup
from loyalty.ledger.model import EntryKind
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

_SOLD = ("confirmed", "cancelled")
_ACTIVE_KINDS = (EntryKind.EARN.value, EntryKind.SPEND.value)
NO_ORDERS = {True: (0, 0), False: (0, 0)}  # (orders, revenue) of members' orders and of non-members'


@dataclass(frozen=True)
class Scope:
    """Which rows a statement counts and which group each is in: the whole program (no split, one group None),
    the members of a member dimension's groups, or the orders of an order dimension's."""

    members: Subquery | None = None  # (account_id, grp)
    orders: OrderGroup | None = None
    only: str | None = None  # an order dimension's one group, when filtered


def _grouped(query: Select[Any], grp: ColumnElement[Any] | None) -> Select[Any]:
    """`query` with the group as its first column, grouped by it; as it is when there is no group (the whole)."""
    if grp is None:
        return query
    return query.with_only_columns(grp, *query.selected_columns).group_by(grp)


def _keyed(rows: Iterable[Row[Any]], grp: ColumnElement[Any] | None) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """(group, the other columns) of each row of a `_grouped` query (the group None for the whole)."""
    for row in rows:
        yield (row[0], tuple(row[1:])) if grp is not None else (None, tuple(row))


def _order_group(scope: Scope, joined: FromClause) -> tuple[FromClause, ColumnElement[Any] | None]:
    """The FROM clause holding `orders` joined to what the order group needs, and the group (None: no order
    split)."""
    if scope.orders is None:
        return joined, None
    return scope.orders(joined)


def _order_nets(start: datetime | None, end: datetime, scope: Scope) -> Subquery:
    """One row per sold order of [start, end) (from the beginning when start is None) and group of `scope`: its
    account, its net revenue, whether any unit of it was kept, and its group (`grp`, when the scope splits)."""
    o, lines = t.orders, t.order_lines
    kept = lines.c.amount - (lines.c.amount * lines.c.returned_quantity) // lines.c.quantity
    joined, grp = _order_group(scope, o.join(lines, lines.c.order_key == o.c.order_key))
    if scope.members is not None:
        joined = joined.join(scope.members, scope.members.c.account_id == o.c.account_id)
        grp = scope.members.c.grp
    keys = [o.c.order_key, o.c.account_id] + ([] if grp is None else [grp])
    query = (
        select(
            o.c.order_key,
            o.c.account_id,
            *([] if grp is None else [grp.label("grp")]),
            func.sum(kept).label("net"),
            func.max(case((lines.c.returned_quantity < lines.c.quantity, 1), else_=0)).label("bought"),
        )
        .select_from(joined)
        .where(o.c.status.in_(_SOLD), o.c.occurred_at < end)
        .group_by(*keys)
    )
    if start is not None:
        query = query.where(o.c.occurred_at >= start)
    if scope.only is not None and grp is not None:
        query = query.where(grp == scope.only)
    return query.subquery("nets")


def _group_of(nets: Subquery) -> ColumnElement[Any] | None:
    return nets.c.grp if "grp" in nets.c else None


@dataclass(frozen=True)
class OrderCounts:
    """The order counts of one group: (orders, net revenue) of members' orders (True) and non-members' (False), the
    members with one order or more and with two or more; in an order scope also the revenue to date and the points
    outstanding of those buying members (None in other scopes, where `member_revenue_to` and `points` read them)."""

    by_member: dict[bool, tuple[int, int]]
    buying: int
    repeat: int
    buyers_revenue_to_date: int | None = None
    buyers_outstanding: int | None = None


def orders(uow: UnitOfWork, start: datetime, end: datetime, scope: Scope) -> dict[Any, OrderCounts]:
    """Per group: the order counts of `OrderCounts`, in one statement that aggregates the period's orders once
    (their nets, from every line, are the costly part): by order, then by account within the group (non-members
    are one row, account null), then by group. In an order scope the buying members' revenue to date and
    outstanding points are joined to their rows in the same statement, one row per account each."""
    nets = _order_nets(start, end, scope)
    grp = _group_of(nets)
    keys = [nets.c.account_id] + ([] if grp is None else [grp])
    per_account = (
        select(*keys, func.sum(nets.c.bought).label("n"), func.sum(nets.c.net).label("net"))
        .group_by(*keys)
        .subquery("per_account")
    )
    p = per_account.c
    member = p.account_id.is_not(None)
    buyer = and_(member, p.n >= 1)
    columns: list[ColumnElement[Any]] = [
        func.sum(case((member, p.n), else_=0)),
        func.sum(case((member, p.net), else_=0)),
        func.sum(case((member, 0), else_=p.n)),
        func.sum(case((member, 0), else_=p.net)),
        func.sum(case((buyer, 1), else_=0)),
        func.sum(case((and_(member, p.n >= 2), 1), else_=0)),
    ]
    grouped = None if grp is None else p.grp
    query = select(*columns)
    if scope.orders is not None:
        to_date, held = _revenue_by_account(end), _outstanding_by_account(end)
        query = select(
            *columns,
            func.sum(case((buyer, func.coalesce(to_date.c.net, 0)), else_=0)),
            func.sum(case((buyer, func.coalesce(held.c.points, 0)), else_=0)),
        ).select_from(
            per_account.outerjoin(to_date, to_date.c.account_id == p.account_id).outerjoin(
                held, held.c.account_id == p.account_id
            )
        )
    found: dict[Any, OrderCounts] = {}
    for name, row in _keyed(uow.conn.execute(_grouped(query, grouped)), grouped):
        values = [int(v or 0) for v in row]
        members, others = (values[0], values[1]), (values[2], values[3])
        extra = values[6:] if scope.orders is not None else [None, None]
        found[name] = OrderCounts({True: members, False: others}, values[4], values[5], *extra)
    return found


def _kept() -> ColumnElement[Any]:
    """A line's amount net of its returned units (the returned part rounded down to a whole minor unit)."""
    lines = t.order_lines
    return lines.c.amount - (lines.c.amount * lines.c.returned_quantity) // lines.c.quantity


def _revenue_by_account(end: datetime) -> Subquery:
    """(account_id, net) of every member with sold orders before `end`: the member's net revenue to date."""
    o, lines = t.orders, t.order_lines
    return (
        select(o.c.account_id, func.sum(_kept()).label("net"))
        .select_from(o.join(lines, lines.c.order_key == o.c.order_key))
        .where(o.c.status.in_(_SOLD), o.c.occurred_at < end, o.c.account_id.is_not(None))
        .group_by(o.c.account_id)
        .subquery("to_date")
    )


def _outstanding_by_account(end: datetime) -> Subquery:
    """(account_id, points) of every account with entries before `end`: what it held then."""
    e = t.ledger_entries.c
    return (
        select(e.account_id, func.sum(e.points).label("points"))
        .where(e.occurred_at < end)
        .group_by(e.account_id)
        .subquery("held")
    )


def member_revenue_to(uow: UnitOfWork, end: datetime, scope: Scope) -> dict[Any, int]:
    """Per group of a member scope (or for the whole): the members' net revenue from the start of the history to
    the period's end (an order scope reads its buyers' in `orders`). Summed line by line, not order by order: the
    whole history is read, and the net of an order is the sum of its lines' anyway."""
    o, lines = t.orders, t.order_lines
    joined: FromClause = o.join(lines, lines.c.order_key == o.c.order_key)
    grp: ColumnElement[Any] | None = None
    if scope.members is not None:
        joined = joined.join(scope.members, scope.members.c.account_id == o.c.account_id)
        grp = scope.members.c.grp
    sold = (o.c.status.in_(_SOLD), o.c.occurred_at < end, o.c.account_id.is_not(None))
    query = select(func.coalesce(func.sum(_kept()), 0)).select_from(joined).where(*sold)
    rows = uow.conn.execute(_grouped(query, grp))
    return {name: int(total) for name, (total,) in _keyed(rows, grp)}


def registered(uow: UnitOfWork, end: datetime, scope: Scope) -> dict[Any, int]:
    """Per group of a member scope (or for the whole): members registered before the period's end."""
    m = t.members.c
    joined: FromClause = t.members
    grp = None
    if scope.members is not None:
        joined = joined.join(scope.members, scope.members.c.account_id == m.member_id)
        grp = scope.members.c.grp
    query = select(func.count()).select_from(joined).where(m.registered_at < end)
    return {name: int(n) for name, (n,) in _keyed(uow.conn.execute(_grouped(query, grp)), grp)}


def activity(uow: UnitOfWork, start: datetime, end: datetime, scope: Scope) -> dict[Any, tuple[int, int, int]]:
    """Per group of a member scope (or for the whole): members active in the period, in the previous one of the
    same length, and in that one but not this."""
    e = t.ledger_entries.c
    previous = start - (end - start)
    per_member = (
        select(
            e.account_id,
            func.max(case((e.occurred_at >= start, 1), else_=0)).label("now"),
            func.max(case((e.occurred_at < start, 1), else_=0)).label("before"),
        )
        .where(e.kind.in_(_ACTIVE_KINDS), e.occurred_at >= previous, e.occurred_at < end)
        .group_by(e.account_id)
        .subquery("activity")
    )
    a = per_member.c
    query = select(
        func.coalesce(func.sum(a.now), 0),
        func.coalesce(func.sum(a.before), 0),
        func.coalesce(func.sum(case((and_(a.before == 1, a.now == 0), 1), else_=0)), 0),
    )
    grp = None
    if scope.members is not None:
        query = query.select_from(per_member.join(scope.members, scope.members.c.account_id == a.account_id))
        grp = scope.members.c.grp
    rows = uow.conn.execute(_grouped(query, grp))
    return {name: (int(x), int(y), int(z)) for name, (x, y, z) in _keyed(rows, grp)}


def points(uow: UnitOfWork, start: datetime, end: datetime, scope: Scope) -> dict[Any, dict[str, int]]:
    """Per group: the period's points by what happened to them, the value of those redeemed, and what is
    outstanding at the end. Grouped by kind, program version and group: a few rows whatever the size of the
    ledger. In an order scope, the points of entries about the group's orders (earned, spent, returned); the
    outstanding points of the members who ordered in it in the period come with `orders` (0 here)."""
    e = t.ledger_entries.c
    joined: FromClause = t.ledger_entries
    grp: ColumnElement[Any] | None = None
    if scope.members is not None:
        joined = joined.join(scope.members, scope.members.c.account_id == e.account_id)
        grp = scope.members.c.grp
    elif scope.orders is not None:
        joined, grp = scope.orders(joined.join(t.orders, t.orders.c.order_key == e.order_key))
    query = (
        select(
            e.kind,
            e.program_version,
            func.sum(case((e.points > 0, e.points), else_=0)),
            func.sum(case((e.points < 0, e.points), else_=0)),
        )
        .select_from(joined)
        .where(e.occurred_at >= start, e.occurred_at < end)
        .group_by(e.kind, e.program_version)
    )
    if scope.only is not None and grp is not None:
        query = query.where(grp == scope.only)
    by_group: dict[Any, list[tuple[Any, ...]]] = {}
    for name, row in _keyed(uow.conn.execute(_grouped(query, grp)), grp):
        by_group.setdefault(name, []).append(row)
    outstanding = {} if scope.orders is not None else _outstanding(uow, end, scope)
    names = set(by_group) | set(outstanding) if grp is not None else {None}
    values: dict[int, int] = {}  # point value by program version, read once per report rather than per group
    return {
        name: {**_points_of(uow, by_group.get(name, []), values), "points_outstanding": outstanding.get(name, 0)}
        for name in names
    }


def _outstanding(uow: UnitOfWork, end: datetime, scope: Scope) -> dict[Any, int]:
    """Per group of a member scope (or for the whole): the points outstanding at the period's end."""
    e = t.ledger_entries.c
    joined: FromClause = t.ledger_entries
    grp: ColumnElement[Any] | None = None
    if scope.members is not None:
        joined = joined.join(scope.members, scope.members.c.account_id == e.account_id)
        grp = scope.members.c.grp
    query = select(func.coalesce(func.sum(e.points), 0)).select_from(joined).where(e.occurred_at < end)
    return {name: int(n) for name, (n,) in _keyed(uow.conn.execute(_grouped(query, grp)), grp)}


NO_POINTS = {
    "points_issued": 0,
    "points_redeemed": 0,
    "points_expired": 0,
    "points_taken_back": 0,
    "points_outstanding": 0,
    "redeemed_value": 0,
}


def _points_of(uow: UnitOfWork, rows: Iterable[tuple[Any, ...]], values: dict[int, int]) -> dict[str, int]:
    """The points figures of one group from its (kind, version, added, removed) rows."""
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    redeemed_by_version: dict[int | None, int] = {}
    for kind, version, plus, minus in rows:  # one row per kind and version, not per entry
        added[kind] = added.get(kind, 0) + int(plus)
        removed[kind] = removed.get(kind, 0) + int(minus)
        if kind in (EntryKind.SPEND, EntryKind.RETURN_SPENT):
            redeemed_by_version[version] = redeemed_by_version.get(version, 0) - int(plus) - int(minus)
    return {
        "points_issued": sum(added.get(k, 0) for k in (EntryKind.EARN, EntryKind.ACTION, EntryKind.ADJUST)),
        "points_redeemed": sum(redeemed_by_version.values()),
        "points_expired": -removed.get(EntryKind.EXPIRE, 0),
        "points_taken_back": -removed.get(EntryKind.RETURN_EARNED, 0) - removed.get(EntryKind.ADJUST, 0),
        "redeemed_value": sum(
            points * _point_value(uow, version, values)
            for version, points in redeemed_by_version.items()
            if points and version is not None  # the checkout records every spend under its version
        ),
    }


def _point_value(uow: UnitOfWork, version: int, values: dict[int, int]) -> int:
    """The money one point is worth under program `version`, from `values` once read."""
    if version not in values:
        values[version] = programs.version(uow, version).program.point_value
    return values[version]
