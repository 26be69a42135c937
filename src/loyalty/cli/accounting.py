"""`loyalty cohorts`, `loyalty liability`, `loyalty journal` and `loyalty charts`: the program's books for a
marketer and an accountant, as tables, JSON or CSV, and the charts as PNG and SVG files."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from loyalty.analytics import cohorts, journal, liability
from loyalty.cli.terminal import DatabaseOption, as_of, fail, instant, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

T = TypeVar("T")
FromOption = Annotated[
    str, typer.Option("--from", help="The first day (YYYY-MM-DD, in the program's time zone) or instant.")
]
ToOption = Annotated[str, typer.Option("--to", help="The day the period ends, not included (2026-11-01 ends October).")]


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FormatOption = Annotated[Format, typer.Option("--format", help="table (default), json or csv.")]


def _read(database: str | None, start: str, end: str, report: Callable[[UnitOfWork, datetime, datetime], T]) -> T:
    """`report` of the period [--from, --to); a refused period exits 2 naming the option."""
    engine = make_engine(database)
    zone = programs.lazy_time_zone(engine, now())
    first, last = instant(start, "--from", zone, day="start"), instant(end, "--to", zone, day="start")
    try:
        with UnitOfWork(engine, read_only=True) as uow:
            return report(uow, first, last)
    except LoyaltyError as error:
        fail(error)


def _csv(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)


def cohort_report(
    start: FromOption, end: ToOption, output: FormatOption = Format.TABLE, database: DatabaseOption = None
) -> None:
    """Print retention by month of registration (the share of each month's new members active in each later
    month) and the liability at each month's end."""
    report = _read(database, start, end, cohorts.cohorts)
    if output is Format.JSON:
        print_json(report)
        return
    if output is Format.CSV:
        _csv(cohorts.CSV_COLUMNS, cohorts.csv_rows(report))
        return
    table = Table("registered in", "members", *report["months"], title="Retention: share of the cohort active")
    for cohort in report["cohorts"]:
        shares = {r["month"]: r["share"] or "—" for r in cohort["retention"]}
        table.add_row(cohort["month"], str(cohort["registered"]), *(shares.get(m, "") for m in report["months"]))
    out.print(table)
    owed = Table("month", "at", "points", f"money ({report['currency']})", title="Liability at each month end")
    for month in report["liability"]:
        owed.add_row(month["month"], month["at"], str(month["points"]), month["money"])
    out.print(owed)


def liability_report(
    as_of_option: Annotated[
        str | None, typer.Option("--as-of", help="The liability as it stood then (default: now).")
    ] = None,
    output: Annotated[
        Format, typer.Option("--format", help="table (default), json, or csv: the lot register, a row per lot.")
    ] = Format.TABLE,
    database: DatabaseOption = None,
) -> None:
    """Print the outstanding points as deferred revenue: by expiry month and by source, the expected breakage and
    what is expected to be redeemed."""
    engine = make_engine(database)
    at = as_of(as_of_option, engine, now())
    try:
        if output is Format.CSV:  # streamed as it is read: a snapshot (PostgreSQL's server-side cursor)
            with UnitOfWork(engine, snapshot=True) as uow:
                _csv(liability.LOT_COLUMNS, liability.lot_rows(liability.lot_register(uow, at)))
            return
        with UnitOfWork(engine, read_only=True) as uow:
            report = liability.liability(uow, at)
    except LoyaltyError as error:
        fail(error)
    if output is Format.JSON:
        print_json(report)
        return
    currency = report["currency"]
    by_month = Table("expires", "points", f"money ({currency})", title=f"Liability at {report['as_of']}")
    for row in report["by_expiry_month"]:
        by_month.add_row(row["expires"] or "never", str(row["points"]), row["money"])
    out.print(by_month)
    breakage = report["breakage"]
    totals = Table("figure", "points", f"money ({currency})")
    totals.add_row("points held by lots", str(report["points_in_lots"]), "")
    totals.add_row("owed by members (debt)", str(report["debt_points"]), "")
    totals.add_row("liability", str(report["liability_points"]), report["liability_money"])
    totals.add_row(
        f"expected breakage (rate {breakage['rate'] or '—'})",
        str(breakage["expected_points"]),
        breakage["expected_money"],
    )
    totals.add_row(
        "expected to be redeemed", str(report["expected_redemption_points"]), report["expected_redemption_money"]
    )
    out.print(totals)


def journal_report(
    start: FromOption, end: ToOption, output: FormatOption = Format.TABLE, database: DatabaseOption = None
) -> None:
    """Print the daily journal of the points liability: issued, redeemed, expired, reversed and adjusted points
    with their money value and the accounts to debit and credit, and the closing liability of each day."""
    report = _read(database, start, end, journal.journal)
    if output is Format.JSON:
        print_json(report)
        return
    if output is Format.CSV:
        _csv(journal.CSV_COLUMNS, journal.csv_rows(report))
        return
    currency = report["currency"]
    opening = report["opening"]
    table = Table(
        title=f"Journal {report['from']} to {report['to']} ({currency}): "
        f"opening {opening['points']} points, {opening['money']}"
    )
    for name in ("date", "movement", "points", "amount", "closing", "closing money"):
        table.add_column(name, no_wrap=True)
    postings: dict[tuple[str, str, str], None] = {}  # each posting once, in the order first met
    for day in report["days"]:
        for line in day["lines"]:
            table.add_row(
                day["date"],
                line["movement"],
                str(line["points"]),
                line["amount"],
                str(day["closing_points"]),
                day["closing_money"],
            )
            postings[(line["movement"], line["debit"], line["credit"])] = None
    out.print(table)
    accounts = Table("movement", "debit", "credit", title="Postings (--format csv gives them on every line)")
    for posting in postings:
        accounts.add_row(*posting)
    out.print(accounts)
    out.print(f"Closing: {report['closing']['points']} points, {report['closing']['money']} {currency}")


def chart_files(
    start: FromOption,
    end: ToOption,
    directory: Annotated[Path, typer.Option("--out", help="The directory to write the charts into.")],
    database: DatabaseOption = None,
) -> None:
    """Write the charts of the period as PNG and SVG files: engagement by month with the 70% line, members vs
    non-members, cohort retention and the liability."""
    from loyalty.analytics import charts  # matplotlib takes a second to import: only the commands that draw pay it

    written = _read(database, start, end, lambda uow, first, last: charts.write_charts(uow, first, last, directory))
    for path in written:
        out.print(str(path), highlight=False)
