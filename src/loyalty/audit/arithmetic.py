"""The ledger's own arithmetic, checked with set-based queries over the whole database: balances, lots, draws,
debts and what returns moved add up. Each check is a function of the database's state returning the violations it
finds, each naming the account (or order) and what is wrong; `service.CHECKS` lists them with those of `links`."""

from __future__ import annotations

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.sql import ColumnElement, Select

from loyalty.ledger.model import Violation
from loyalty.storage import tables as t


def _sum_by_account(column: ColumnElement[int], table: Table, *where: ColumnElement[bool]) -> Select[int, int]:
    account_id: ColumnElement[int] = table.c.account_id
    query = select(account_id, func.sum(column).label("s")).group_by(account_id)
    return query.where(*where) if where else query


def account_totals(c: Connection) -> list[Violation]:
    """Each account's balance is the sum of its entries; its lots' remainders minus its debt equal its balance;
    its debt is never negative and equals what its entries moved."""
    a, e, lo = t.accounts, t.ledger_entries, t.lots
    entries = _sum_by_account(e.c.points, e).subquery()
    remaining = _sum_by_account(lo.c.remaining, lo).subquery()
    debts = _sum_by_account(e.c.debt_delta, e).subquery()
    entry_sum, lot_sum, debt_sum = (func.coalesce(q.c.s, 0) for q in (entries, remaining, debts))
    found: list[Violation] = []
    for account_id, bal, debt, entry_total, lot_total, debt_total in c.execute(
        select(a.c.account_id, a.c.balance, a.c.debt, entry_sum, lot_sum, debt_sum)
        .outerjoin(entries, entries.c.account_id == a.c.account_id)
        .outerjoin(remaining, remaining.c.account_id == a.c.account_id)
        .outerjoin(debts, debts.c.account_id == a.c.account_id)
        .where(
            (a.c.balance != entry_sum) | (lot_sum - a.c.debt != a.c.balance) | (a.c.debt < 0) | (a.c.debt != debt_sum)
        )
    ):
        subject = f"account {account_id}"
        if bal != entry_total:
            found.append(Violation("balance", subject, f"balance {bal} but its entries sum to {entry_total}"))
        if lot_total - debt != bal:
            found.append(
                Violation(
                    "lots", subject, f"lot remainders {lot_total} minus debt {debt} do not equal the balance {bal}"
                )
            )
        if debt < 0 or debt != debt_total:
            found.append(Violation("debt", subject, f"debt {debt} but entries moved it by {debt_total}"))
    return found


def lot_remainders(c: Connection) -> list[Violation]:
    """Every lot's remainder is its points minus what was drawn from it, and never negative."""
    d, lo = t.lot_draws, t.lots
    drawn = (
        select(d.c.account_id, d.c.lot_no, func.sum(d.c.points).label("s"))
        .group_by(d.c.account_id, d.c.lot_no)
        .subquery()
    )
    return [
        Violation("lot", f"account {account_id} lot {lot_no}", f"remaining {rem} but {points} accrued and {s} drawn")
        for account_id, lot_no, points, rem, s in c.execute(
            select(lo.c.account_id, lo.c.lot_no, lo.c.points, lo.c.remaining, func.coalesce(drawn.c.s, 0))
            .outerjoin(drawn, (drawn.c.account_id == lo.c.account_id) & (drawn.c.lot_no == lo.c.lot_no))
            .where((lo.c.remaining < 0) | (lo.c.remaining != lo.c.points - func.coalesce(drawn.c.s, 0)))
        )
    ]


def entry_movements(c: Connection) -> list[Violation]:
    """Every entry is matched by its lot, its draws and its debt movement."""
    e, lo, d = t.ledger_entries, t.lots, t.lot_draws
    by_entry = (
        select(d.c.account_id, d.c.entry_no, func.sum(d.c.points).label("s"))
        .group_by(d.c.account_id, d.c.entry_no)
        .subquery()
    )
    return [
        Violation(
            "entry",
            f"account {account_id} entry {entry_no}",
            f"{kind} of {points} points is not matched by its lot ({lot_points}), draws ({s}) and debt ({debt_delta})",
        )
        for account_id, entry_no, kind, points, debt_delta, lot_points, s in c.execute(
            select(
                e.c.account_id,
                e.c.entry_no,
                e.c.kind,
                e.c.points,
                e.c.debt_delta,
                func.coalesce(lo.c.points, 0),
                func.coalesce(by_entry.c.s, 0),
            )
            .outerjoin(
                lo,
                (lo.c.account_id == e.c.account_id) & (lo.c.lot_no == e.c.lot_no) & (lo.c.entry_no == e.c.entry_no),
            )
            .outerjoin(by_entry, (by_entry.c.account_id == e.c.account_id) & (by_entry.c.entry_no == e.c.entry_no))
            .where(e.c.points != func.coalesce(lo.c.points, 0) - func.coalesce(by_entry.c.s, 0) - e.c.debt_delta)
        )
    ]


def returns_within_orders(c: Connection) -> list[Violation]:
    """No order gave back more points than it spent or took back more than it earned; no line returned more than
    was bought."""
    e, o, lines = t.ledger_entries, t.orders, t.order_lines
    back = (
        select(
            e.c.order_key,
            func.sum(func.coalesce(e.c.points, 0)).filter(e.c.kind == "return_spent").label("given"),
            func.sum(func.coalesce(e.c.points, 0)).filter(e.c.kind == "return_earned").label("taken"),
        )
        .where(e.c.order_key.is_not(None), e.c.kind.in_(["return_spent", "return_earned"]))
        .group_by(e.c.order_key)
        .subquery()
    )
    found = [
        Violation(
            "order",
            f"order {order_key}",
            f"returns gave back {given} of {applied} spent points and took back {-taken} of {earned} earned",
        )
        for order_key, applied, earned, given, taken in c.execute(
            select(
                o.c.order_key,
                o.c.points_applied,
                o.c.points_earned,
                func.coalesce(back.c.given, 0),
                func.coalesce(back.c.taken, 0),
            )
            .join(back, back.c.order_key == o.c.order_key)
            .where(
                (func.coalesce(back.c.given, 0) > o.c.points_applied)
                | (-func.coalesce(back.c.taken, 0) > o.c.points_earned)
            )
        )
    ]
    found += [
        Violation("order", f"order {order_key} line {line_id}", f"{returned} returned of {quantity}")
        for order_key, line_id, quantity, returned in c.execute(
            select(lines.c.order_key, lines.c.line_id, lines.c.quantity, lines.c.returned_quantity).where(
                (lines.c.returned_quantity > lines.c.quantity) | (lines.c.returned_quantity < 0)
            )
        )
    ]
    return found
