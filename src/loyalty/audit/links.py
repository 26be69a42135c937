"""The audit's checks of the ledger's links: every entry is explained by the order, return or event it names, and
every order, order line, return and event is matched by its entries.

Like the ledger's own checks (`arithmetic`), each is a function of the database's state returning the violations it
finds, named by the check; each is a few set-based statements (aggregates joined on keys), never a query per order.
`service.CHECKS` lists them all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, String, Table, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.sql import ColumnElement, Subquery

from loyalty.ledger.model import EntryKind, Violation
from loyalty.storage import tables as t

E, ORD, LN, RET = t.ledger_entries, t.orders, t.order_lines, t.returns
ORDER_KINDS = [EntryKind.EARN.value, EntryKind.SPEND.value]
RETURN_KINDS = [EntryKind.RETURN_EARNED.value, EntryKind.RETURN_SPENT.value]


def _points(kind: EntryKind, sign: int = 1) -> ColumnElement[Any]:
    """The sum of the points of one kind of entry, in a query grouped otherwise."""
    return func.coalesce(func.sum(case((E.c.kind == kind.value, sign * E.c.points), else_=0)), 0)


def _unmatched_totals(
    c: Connection,
    record: Table,
    keys: tuple[str, ...],
    totals: tuple[tuple[str, EntryKind, int], ...],
    *where: ColumnElement[bool],
) -> list[Row[Any]]:
    """The rows of `record` (orders, returns) that keep totals their entries do not add up to: each total is a
    column of `record`, the kind of entry that moves it and the sign it moves it with. Entries belong to a record by
    the `keys` columns both tables share. Each row is the record's columns followed by its entries' sums, named
    `entries_<column>` (0 when it has no entries)."""
    moved = (
        select(*(E.c[k] for k in keys), *(_points(kind, sign).label(column) for column, kind, sign in totals))
        .where(*(E.c[k].is_not(None) for k in keys), E.c.kind.in_([kind.value for _, kind, _ in totals]))
        .group_by(*(E.c[k] for k in keys))
        .subquery()
    )
    sums = [func.coalesce(moved.c[column], 0) for column, _, _ in totals]
    return list(
        c.execute(
            select(record, *(s.label(f"entries_{column}") for s, (column, _, _) in zip(sums, totals, strict=True)))
            .outerjoin(moved, and_(*(moved.c[k] == record.c[k] for k in keys)))
            .where(*where, or_(*(s != record.c[column] for s, (column, _, _) in zip(sums, totals, strict=True))))
        )
    )


def order_entries(c: Connection) -> list[Violation]:
    """A member's order spent exactly the points its spend entry took and earned exactly what its earn entries
    credited; the entry it names as its spend is that spend."""
    found = [
        Violation(
            "order-entries",
            f"order {o.order_key}",
            f"records {o.points_applied} points spent and {o.points_earned} earned, but its entries spent "
            f"{o.entries_points_applied} and earned {o.entries_points_earned}",
        )
        for o in _unmatched_totals(
            c,
            ORD,
            ("account_id", "order_key"),
            (("points_applied", EntryKind.SPEND, -1), ("points_earned", EntryKind.EARN, 1)),
            ORD.c.account_id.is_not(None),
        )
    ]
    spend = E.alias("spend")
    found += [
        Violation(
            "order-entries",
            f"order {key}",
            f"spent {applied} points but names entry {entry_no} as its spend, which is "
            + ("missing" if kind is None else f"a {kind} of {points} points for order {of}"),
        )
        for key, applied, entry_no, kind, points, of in c.execute(
            select(
                ORD.c.order_key,
                ORD.c.points_applied,
                ORD.c.spend_entry_no,
                spend.c.kind,
                spend.c.points,
                spend.c.order_key,
            )
            .outerjoin(spend, (spend.c.account_id == ORD.c.account_id) & (spend.c.entry_no == ORD.c.spend_entry_no))
            .where(
                ORD.c.account_id.is_not(None),
                ORD.c.spend_entry_no.is_not(None) | (ORD.c.points_applied != 0),
                or_(
                    spend.c.entry_no.is_(None),
                    spend.c.kind != EntryKind.SPEND.value,
                    spend.c.order_key.is_distinct_from(ORD.c.order_key),
                    spend.c.points != -ORD.c.points_applied,
                ),
            )
        )
    ]
    return found


def _returns_by_order() -> Subquery:
    return select(RET.c.order_key, func.count().label("n")).group_by(RET.c.order_key).subquery()


def order_lines(c: Connection) -> list[Violation]:
    """A confirmed order (also one cancelled after it was confirmed: it has a return) has lines, and they add up
    to the points the order spent and earned."""
    lines = (
        select(
            LN.c.order_key,
            func.count().label("n"),
            func.sum(LN.c.points_applied).label("applied"),
            func.sum(LN.c.points_earned).label("earned"),
        )
        .group_by(LN.c.order_key)
        .subquery()
    )
    returned = _returns_by_order()
    was_confirmed = (ORD.c.status == "confirmed") | ((ORD.c.status == "cancelled") & returned.c.n.is_not(None))
    found: list[Violation] = []
    for key, status, n, applied, earned, line_applied, line_earned in c.execute(
        select(
            ORD.c.order_key,
            ORD.c.status,
            lines.c.n,
            ORD.c.points_applied,
            ORD.c.points_earned,
            lines.c.applied,
            lines.c.earned,
        )
        .outerjoin(lines, lines.c.order_key == ORD.c.order_key)
        .outerjoin(returned, returned.c.order_key == ORD.c.order_key)
        .where(
            or_(
                and_(was_confirmed, lines.c.n.is_(None)),
                lines.c.applied != ORD.c.points_applied,
                lines.c.earned != ORD.c.points_earned,
            )
        )
    ):
        if n is None:
            found.append(Violation("order-lines", f"order {key}", f"is {status} but has no lines"))
        else:
            found.append(
                Violation(
                    "order-lines",
                    f"order {key}",
                    f"spent {applied} and earned {earned} points, but its lines spent {line_applied} and earned "
                    f"{line_earned}",
                )
            )
    return found


def entry_links(c: Connection) -> list[Violation]:
    """Every entry that names an order names an existing order of its own account, and every earn and spend names
    one; every entry that names a return names an existing return of that order, and every return entry names
    one."""
    found = [
        Violation(
            "entry-order",
            f"account {account_id} entry {entry_no}",
            f"{kind} names no order"
            if key is None
            else f"{kind} names order {key}, which "
            + ("does not exist" if exists is None else f"belongs to {'no member' if owner is None else owner}"),
        )
        for account_id, entry_no, kind, key, exists, owner in c.execute(
            select(E.c.account_id, E.c.entry_no, E.c.kind, E.c.order_key, ORD.c.order_key, ORD.c.account_id)
            .outerjoin(ORD, ORD.c.order_key == E.c.order_key)
            .where(
                or_(
                    and_(E.c.order_key.is_(None), E.c.kind.in_(ORDER_KINDS + RETURN_KINDS)),
                    and_(E.c.order_key.is_not(None), ORD.c.account_id.is_distinct_from(E.c.account_id)),
                )
            )
        )
    ]
    found += [
        Violation(
            "entry-return",
            f"account {account_id} entry {entry_no}",
            f"{kind} names no return"
            if key is None
            else f"{kind} names return {key}, which "
            + ("does not exist" if of is None else f"is of order {of} and account {owner}"),
        )
        for account_id, entry_no, kind, key, of, owner in c.execute(
            select(E.c.account_id, E.c.entry_no, E.c.kind, E.c.return_key, RET.c.order_key, RET.c.account_id)
            .outerjoin(RET, RET.c.return_key == E.c.return_key)
            .where(
                or_(
                    and_(E.c.return_key.is_(None), E.c.kind.in_(RETURN_KINDS)),
                    and_(
                        E.c.return_key.is_not(None),
                        or_(
                            RET.c.return_key.is_(None),
                            RET.c.order_key.is_distinct_from(E.c.order_key),
                            RET.c.account_id.is_distinct_from(E.c.account_id),
                        ),
                    ),
                )
            )
        )
    ]
    return found


def return_entries(c: Connection) -> list[Violation]:
    """Each return gave back exactly the points of its `return_spent` entries and took back exactly those of its
    `return_earned` entries."""
    return [
        Violation(
            "return-entries",
            f"return {r.return_key} of order {r.order_key}",
            f"gave back {r.points_given_back} and took back {r.points_taken_back} points, but its entries gave back "
            f"{r.entries_points_given_back} and took back {r.entries_points_taken_back}",
        )
        for r in _unmatched_totals(
            c,
            RET,
            ("return_key",),
            (("points_given_back", EntryKind.RETURN_SPENT, 1), ("points_taken_back", EntryKind.RETURN_EARNED, -1)),
        )
    ]


def returned_lines(c: Connection) -> list[Violation]:
    """What a member order's returns gave and took back is what its lines' returned quantities carry: per line,
    the points spent (earned) on it × returned ÷ bought, floored — the sum of every return's cumulative shares.
    What could not be taken back is the returns' shortfall.

    Only lines with returns and returns are read."""
    zero = literal(0)
    both = union_all(
        select(
            LN.c.order_key,
            ((LN.c.points_applied * LN.c.returned_quantity) // LN.c.quantity).label("g"),
            ((LN.c.points_earned * LN.c.returned_quantity) // LN.c.quantity).label("k"),
            zero.label("rg"),
            zero.label("rk"),
        ).where(LN.c.returned_quantity != 0, LN.c.quantity > 0),
        select(RET.c.order_key, zero, zero, RET.c.points_given_back, RET.c.points_taken_back + RET.c.shortfall),
    ).subquery()
    g, k, rg, rk = (func.sum(column) for column in (both.c.g, both.c.k, both.c.rg, both.c.rk))
    return [
        Violation(
            "returned-lines",
            f"order {key}",
            f"its returned lines carry {given} points to give back and {taken} to take back, but its returns gave "
            f"back {returned_given} and took back {returned_taken} (shortfall included)",
        )
        for key, given, taken, returned_given, returned_taken in c.execute(
            select(both.c.order_key, g, k, rg, rk)
            .join(ORD, ORD.c.order_key == both.c.order_key)
            .where(ORD.c.account_id.is_not(None))
            .group_by(both.c.order_key)
            .having((g != rg) | (k != rk))
        )
    ]


def action_entries(c: Connection) -> list[Violation]:
    """Each account's action entries for an event id credit exactly the points its recorded events (action
    bonuses, win-back) and referrals (`referral:<new member>`, to the new member and to the referrer) gave."""
    ev, ref = t.action_events, t.referrals
    referral_key = literal("referral:", String) + cast(ref.c.account_id, String)
    expected = union_all(
        select(ev.c.account_id, ev.c.event_key.label("key"), ev.c.points.label("due"), literal(0).label("got")),
        select(ref.c.account_id, referral_key, ref.c.new_member_points, literal(0)),
        select(ref.c.referrer_id, referral_key, ref.c.referrer_points, literal(0)),
        select(E.c.account_id, E.c.action_key, literal(0), E.c.points).where(E.c.kind == EntryKind.ACTION.value),
    ).subquery()
    return [
        Violation(
            "action-entries",
            f"account {account_id} event {key}",
            f"its events and referrals gave {due} points but its action entries credited {got}",
        )
        for account_id, key, due, got in c.execute(
            select(expected.c.account_id, expected.c.key, func.sum(expected.c.due), func.sum(expected.c.got))
            .group_by(expected.c.account_id, expected.c.key)
            .having(func.sum(expected.c.due) != func.sum(expected.c.got))
        )
    ]


def entry_versions(c: Connection) -> list[Violation]:
    """Every entry names a published program version (the one whose terms produced it)."""
    v = t.program_versions
    return [
        Violation("entry-version", f"account {account_id} entry {entry_no}", f"{kind} names version {number}")
        for account_id, entry_no, kind, number in c.execute(
            select(E.c.account_id, E.c.entry_no, E.c.kind, E.c.program_version)
            .outerjoin(v, v.c.number == E.c.program_version)
            .where(v.c.number.is_(None))
        )
    ]


def held_out_orders(c: Connection) -> list[Violation]:
    """An order an experiment held out of the program (`program_withheld_by`) neither paid with points nor earned
    any: its control group gets no program benefit (together with order-entries, no entry gave it one either)."""
    query = select(ORD.c.order_key, ORD.c.program_withheld_by, ORD.c.points_applied, ORD.c.points_earned).where(
        ORD.c.program_withheld_by.is_not(None), or_(ORD.c.points_applied != 0, ORD.c.points_earned != 0)
    )
    return [
        Violation(
            "held-out-orders",
            f"order {r.order_key}",
            f"held out by experiment {r.program_withheld_by}, yet paid {r.points_applied} and earned "
            f"{r.points_earned} points",
        )
        for r in c.execute(query)
    ]
