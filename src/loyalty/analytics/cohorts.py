"""Cohorts: retention by month of registration, and the liability at each month's end.

A cohort is the members registered in one calendar month of the period (in the program's time zone; the first
and last months are clipped to the period). For each later month of the period, its retention is the share of the
cohort active in that month, active as the KPIs define it: an `earn` or `spend` ledger entry that occurred in the
month. The liability over time is the sum of every ledger entry that occurred before each month's end, in points
and in money at the point value of the version in force then."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from loyalty.analytics import cohort_queries as queries
from loyalty.analytics import periods
from loyalty.analytics.kpi import ratio
from loyalty.analytics.service import check_period
from loyalty.analytics.valuation import PointValues, program_before
from loyalty.core.money import format_money
from loyalty.storage.database import UnitOfWork


def cohorts(uow: UnitOfWork, start: datetime, end: datetime) -> dict[str, Any]:
    """The cohorts of [start, end) and the liability at each month's end, ready for JSON: shares as decimal
    strings with four places ("0.7500"), money as decimal strings in the program's currency."""
    check_period(start, end)
    program = program_before(uow, end)
    months = periods.months(start, end, program.timezone)
    registered = queries.registered_by_bucket(uow, months)
    active = queries.active_by_cohort(uow, months)
    rows = []
    for c, cohort in enumerate(months):
        size = registered.get(c, 0)
        retention = []
        for m in range(c, len(months)):
            count = active.get((c, m), 0)
            share = ratio(count, size)
            retention.append(
                {"month": months[m].label, "active": count, "share": None if share is None else str(share)}
            )
        rows.append({"month": cohort.label, "registered": size, "retention": retention})
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": program.currency,
        "months": [month.label for month in months],
        "cohorts": rows,
        "liability": liability_by_month(uow, months, program.exponent, program.timezone),
    }


def liability_by_month(
    uow: UnitOfWork, months: list[periods.Bucket], exponent: int, zone: tzinfo
) -> list[dict[str, Any]]:
    """The points outstanding at each month's end (the sum of the entries before it) and their money value."""
    values = PointValues(uow)
    outstanding = queries.points_before(uow, months[0].start)
    moved = queries.points_by_bucket(uow, months)
    shown = []
    for number, month in enumerate(months):
        outstanding += moved.get(number, 0)
        shown.append(
            {
                "month": month.label,
                "at": month.end.astimezone(zone).isoformat(),
                "points": outstanding,
                "money": format_money(outstanding * values.before(month.end), exponent),
            }
        )
    return shown


CSV_COLUMNS = ("cohort", "registered", "month", "active", "share")


def csv_rows(report: dict[str, Any]) -> list[list[str]]:
    """The retention table as CSV rows under `CSV_COLUMNS`: one per cohort and month (an empty share: no members)."""
    return [
        [cohort["month"], str(cohort["registered"]), r["month"], str(r["active"]), r["share"] or ""]
        for cohort in report["cohorts"]
        for r in cohort["retention"]
    ]
