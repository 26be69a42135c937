"""Outstanding points as deferred revenue: the lots that hold them, by expiry month and by source, their money
value, and the breakage expected of them from history.

Everything is read as it stood at `as_of`, from the ledger's entries that occurred before it (an imported history
reads as it was then): a lot counts once the entry that credited it occurred; what it holds is its points less what
the entries before `as_of` drew from it (spends, take-backs, expiry; a give-back by a return draws a negative
amount). The remainders of the lots less the account's debt are its balance, so the lots add up to the liability.
A lot can hold a negative amount at an instant between the write-off of what it held at its expiry (dated at the
expiry) and a give-back into it by a later return of points spent from it before: it is shown as it is, so the
lots still add up to the ledger.

**Expected breakage** is estimated from the lots that have matured by `as_of` (expired, or used in full): of their
points that were either redeemed (spent, net of points given back by returns) or expired (written off, or past
their expiry and awaiting the write-off), the share that expired. Points taken back by returns or deducted by an
operator are neither: they never turn into revenue of either kind and are left out of the estimate. The rate
applied to the outstanding points gives the points expected to expire unused, rounded half to even."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql import Subquery

from loyalty.analytics.kpi import divide_half_even, ratio
from loyalty.analytics.valuation import program_before
from loyalty.core.money import format_money
from loyalty.ledger.model import EntryKind
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

_REDEEMING = (EntryKind.SPEND.value, EntryKind.RETURN_SPENT.value)


def lots_at(as_of: datetime) -> Subquery:
    """One row per lot credited before `as_of`: its account, number, points, expiry, source (rule and version),
    what it held at `as_of` (`held`) and what had left it by then as redemption (`redeemed`) and by expiry
    (`expired`)."""
    crediting = t.ledger_entries.alias("credit")
    d, e, lots, credit = t.lot_draws.c, t.ledger_entries.c, t.lots.c, crediting.c
    drawn = (
        select(
            d.account_id,
            d.lot_no,
            func.sum(d.points).label("drawn"),
            func.sum(case((e.kind.in_(_REDEEMING), d.points), else_=0)).label("redeemed"),
            func.sum(case((e.kind == EntryKind.EXPIRE.value, d.points), else_=0)).label("expired"),
        )
        .select_from(t.lot_draws.join(t.ledger_entries, and_(e.account_id == d.account_id, e.entry_no == d.entry_no)))
        .where(e.occurred_at < as_of)
        .group_by(d.account_id, d.lot_no)
        .subquery("drawn")
    )
    joined = t.lots.join(
        crediting, and_(credit.account_id == lots.account_id, credit.entry_no == lots.entry_no)
    ).outerjoin(drawn, and_(drawn.c.account_id == lots.account_id, drawn.c.lot_no == lots.lot_no))
    return (
        select(
            lots.account_id,
            lots.lot_no,
            lots.points,
            lots.expires_at,
            lots.rule_id,
            lots.program_version,
            (lots.points - func.coalesce(drawn.c.drawn, 0)).label("held"),
            func.coalesce(drawn.c.redeemed, 0).label("redeemed"),
            func.coalesce(drawn.c.expired, 0).label("expired"),
        )
        .select_from(joined)
        .where(credit.occurred_at < as_of)
        .subquery("lots_at")
    )


def breakage_history(uow: UnitOfWork, as_of: datetime) -> tuple[int, int]:
    """(expired, redeemed) points of the lots matured by `as_of`: expired, or holding nothing. A lot past its
    expiry that still holds points (the write-off job has not run yet) counts what it holds as expired."""
    lots = lots_at(as_of).c
    past = and_(lots.expires_at.is_not(None), lots.expires_at <= as_of)
    matured = or_(past, lots.held == 0)
    row = uow.conn.execute(
        select(
            func.coalesce(func.sum(lots.expired + case((past, lots.held), else_=0)), 0),
            func.coalesce(func.sum(lots.redeemed), 0),
        ).where(matured)
    ).one()
    return int(row[0]), int(row[1])


def debt_at(uow: UnitOfWork, as_of: datetime) -> int:
    """Points the members owed at `as_of` after returns found them spent (the sum of the entries' debt moves)."""
    e = t.ledger_entries.c
    return int(
        uow.conn.execute(select(func.coalesce(func.sum(e.debt_delta), 0)).where(e.occurred_at < as_of)).scalar_one()
    )


def liability(uow: UnitOfWork, as_of: datetime) -> dict[str, Any]:
    """The outstanding liability at `as_of`, ready for JSON: points held by lots by expiry month (in the program's
    time zone; null: never expires) and by source (the rule and version that credited them), less the debt, in
    points and in money at the point value in force at `as_of`; the expected breakage and what is left of the
    liability after it."""
    program = program_before(uow, as_of)
    value, zone, exponent = program.point_value, program.timezone, program.exponent
    lots = lots_at(as_of).c
    held = lots.held != 0
    by_expiry: dict[str | None, int] = {}
    for expires_at, points in uow.conn.execute(
        select(lots.expires_at, func.sum(lots.held)).where(held).group_by(lots.expires_at)
    ):  # one row per expiry instant (lots expire at local midnights), grouped into months here
        month = None if expires_at is None else expires_at.astimezone(zone).strftime("%Y-%m")
        by_expiry[month] = by_expiry.get(month, 0) + int(points)
    by_source = uow.conn.execute(
        select(lots.rule_id, lots.program_version, func.count(), func.sum(lots.held))
        .where(held)
        .group_by(lots.rule_id, lots.program_version)
        .order_by(lots.program_version, lots.rule_id)
    ).all()
    debt = debt_at(uow, as_of)
    in_lots = sum(by_expiry.values())
    points = in_lots - debt
    expired, redeemed = breakage_history(uow, as_of)
    expected = divide_half_even(max(points, 0) * expired, expired + redeemed) if expired + redeemed else 0

    def money(n: int) -> str:
        return format_money(n * value, exponent)

    return {
        "as_of": as_of.isoformat(),
        "currency": program.currency,
        "point_value": format_money(value, exponent),
        "points_in_lots": in_lots,
        "debt_points": debt,
        "liability_points": points,
        "liability_money": money(points),
        "by_expiry_month": [
            {"expires": month, "points": n, "money": money(n)}
            for month, n in sorted(by_expiry.items(), key=lambda item: (item[0] is None, item[0] or ""))
        ],
        "by_source": [
            {"rule": rule, "program_version": version, "lots": int(count), "points": int(n), "money": money(int(n))}
            for rule, version, count, n in by_source
        ],
        "breakage": {
            "matured_expired_points": expired,
            "matured_redeemed_points": redeemed,
            "rate": None if (rate := ratio(expired, expired + redeemed)) is None else str(rate),
            "expected_points": expected,
            "expected_money": money(expected),
        },
        "expected_redemption_points": points - expected,
        "expected_redemption_money": money(points - expected),
    }


STREAMED = 5_000  # lots fetched from the database at a time


def lot_register(uow: UnitOfWork, as_of: datetime) -> Iterator[dict[str, Any]]:
    """Every lot holding points (or, see above, a negative amount) at `as_of`, for the subledger: account, lot,
    source, expiry, points credited and held, and the money value of what it holds. Ordered by account and lot.

    A register can hold millions of lots, so it is streamed: fetched `STREAMED` rows at a time (on PostgreSQL
    through a server-side cursor, which lives in a transaction: give a `snapshot` unit of work) and each row made as
    it is consumed, so memory stays flat whatever its size; consume it inside the unit of work. The program is read
    before the first row, so a missing one fails here, not half-way through."""
    program = program_before(uow, as_of)
    lots = lots_at(as_of).c
    rows = uow.conn.execute(
        select(
            lots.account_id,
            lots.lot_no,
            lots.rule_id,
            lots.program_version,
            lots.expires_at,
            lots.points,
            lots.held,
        )
        .where(lots.held != 0)
        .order_by(lots.account_id, lots.lot_no)
        .execution_options(yield_per=STREAMED)
    )
    return (
        {
            "account_id": account,
            "lot": lot,
            "rule": rule,
            "program_version": version,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
            "points": int(points),
            "held": int(n),
            "money": format_money(int(n) * program.point_value, program.exponent),
        }
        for account, lot, rule, version, expires_at, points, n in rows
    )


LOT_COLUMNS = ("account_id", "lot", "rule", "program_version", "expires_at", "points", "held", "money")


def lot_rows(register: Iterable[dict[str, Any]]) -> Iterator[list[str]]:
    """The lot register as CSV rows under `LOT_COLUMNS` (an empty cell for a missing value)."""
    return (["" if row[name] is None else str(row[name]) for name in LOT_COLUMNS] for row in register)
