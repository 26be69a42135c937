"""The ledger's invariants, checked with set-based queries over the whole database.

Each check returns the violations it finds, each naming the account (or order) and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.sql import Select

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


def _sum_by_account(column: object, table: object, *where: object) -> Select[tuple[int, int]]:
    query = select(table.c.account_id, func.sum(column).label("s")).group_by(table.c.account_id)  # type: ignore[attr-defined]
    return query.where(*where) if where else query  # type: ignore[arg-type]


def run(uow: UnitOfWork) -> tuple[list[Violation], dict[str, int]]:
    """All violations, and counts of what was checked."""
    c = uow.conn
    a, e, lo, d = t.accounts, t.ledger_entries, t.lots, t.lot_draws
    found: list[Violation] = []
    entries = _sum_by_account(e.c.points, e).subquery()
    remaining = _sum_by_account(lo.c.remaining, lo).subquery()
    debts = _sum_by_account(e.c.debt_delta, e).subquery()
    rows = c.execute(
        select(
            a.c.account_id,
            a.c.balance,
            a.c.debt,
            func.coalesce(entries.c.s, 0),
            func.coalesce(remaining.c.s, 0),
            func.coalesce(debts.c.s, 0),
        )
        .outerjoin(entries, entries.c.account_id == a.c.account_id)
        .outerjoin(remaining, remaining.c.account_id == a.c.account_id)
        .outerjoin(debts, debts.c.account_id == a.c.account_id)
    ).all()
    for account_id, bal, debt, entry_sum, lot_sum, debt_sum in rows:
        if bal != entry_sum:
            found.append(
                Violation("balance", f"account {account_id}", f"balance {bal} but its entries sum to {entry_sum}")
            )
        if lot_sum - debt != bal:
            found.append(
                Violation(
                    "lots",
                    f"account {account_id}",
                    f"lot remainders {lot_sum} minus debt {debt} do not equal the balance {bal}",
                )
            )
        if debt < 0 or debt != debt_sum:
            found.append(Violation("debt", f"account {account_id}", f"debt {debt} but entries moved it by {debt_sum}"))
    drawn = (
        select(d.c.account_id, d.c.lot_no, func.sum(d.c.points).label("s"))
        .group_by(d.c.account_id, d.c.lot_no)
        .subquery()
    )
    for account_id, lot_no, points, rem, s in c.execute(
        select(lo.c.account_id, lo.c.lot_no, lo.c.points, lo.c.remaining, func.coalesce(drawn.c.s, 0))
        .outerjoin(drawn, (drawn.c.account_id == lo.c.account_id) & (drawn.c.lot_no == lo.c.lot_no))
        .where((lo.c.remaining < 0) | (lo.c.remaining != lo.c.points - func.coalesce(drawn.c.s, 0)))
    ):
        found.append(
            Violation(
                "lot", f"account {account_id} lot {lot_no}", f"remaining {rem} but {points} accrued and {s} drawn"
            )
        )
    by_entry = (
        select(d.c.account_id, d.c.entry_no, func.sum(d.c.points).label("s"))
        .group_by(d.c.account_id, d.c.entry_no)
        .subquery()
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
            lo, (lo.c.account_id == e.c.account_id) & (lo.c.lot_no == e.c.lot_no) & (lo.c.entry_no == e.c.entry_no)
        )
        .outerjoin(by_entry, (by_entry.c.account_id == e.c.account_id) & (by_entry.c.entry_no == e.c.entry_no))
        .where(e.c.points != func.coalesce(lo.c.points, 0) - func.coalesce(by_entry.c.s, 0) - e.c.debt_delta)
    ):
        found.append(
            Violation(
                "entry",
                f"account {account_id} entry {entry_no}",
                f"{kind} of {points} points is not matched by its lot ({lot_points}), draws ({s}) "
                f"and debt ({debt_delta})",
            )
        )
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
    o = t.orders
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
    ):
        found.append(
            Violation(
                "order",
                f"order {order_key}",
                f"returns gave back {given} of {applied} spent points and took back {-taken} of {earned} earned",
            )
        )
    for order_key, line_id, quantity, returned in c.execute(
        select(
            t.order_lines.c.order_key,
            t.order_lines.c.line_id,
            t.order_lines.c.quantity,
            t.order_lines.c.returned_quantity,
        ).where(
            (t.order_lines.c.returned_quantity > t.order_lines.c.quantity) | (t.order_lines.c.returned_quantity < 0)
        )
    ):
        found.append(Violation("order", f"order {order_key} line {line_id}", f"{returned} returned of {quantity}"))
    counts = {
        "accounts": len(rows),
        "entries": c.execute(select(func.count()).select_from(e)).scalar_one(),
        "lots": c.execute(select(func.count()).select_from(lo)).scalar_one(),
        "orders": c.execute(select(func.count()).select_from(o)).scalar_one(),
    }
    return found, counts
