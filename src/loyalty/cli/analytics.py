"""`loyalty kpi`: the KPIs of a period as a table, JSON or CSV."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from loyalty.analytics import service as analytics
from loyalty.cli.terminal import DatabaseOption, fail, instant, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

GROUPS = ("overall", "members", "non_members")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def kpi(
    start: Annotated[
        str, typer.Option("--from", help="The first day (YYYY-MM-DD, in the program's time zone) or instant.")
    ],
    end: Annotated[str, typer.Option("--to", help="The day the period ends, not included (2026-11-01 ends October).")],
    output: Annotated[Format, typer.Option("--format", help="table (default), json or csv.")] = Format.TABLE,
    database: DatabaseOption = None,
) -> None:
    """Print the KPIs of the period [--from, --to): engagement against the 70% line, churn, repeat purchases,
    average check, LTV, points, redemption, breakage, liability and the program's cost; members' and non-members'
    orders apart."""
    engine = make_engine(database)
    zone = programs.lazy_time_zone(engine, now())
    first, last = instant(start, "--from", zone, day="start"), instant(end, "--to", zone, day="start")
    try:
        with UnitOfWork(engine, read_only=True) as uow:
            report = analytics.kpis(uow, first, last)
    except LoyaltyError as error:
        fail(error)
    if output is Format.JSON:
        print_json(report)
    elif output is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["kpi", *GROUPS])
        writer.writerows(_rows(report, blank=""))
    else:
        table = Table(
            "KPI",
            "overall",
            "members",
            "non-members",
            title=f"{report['from']} to {report['to']} ({report['currency']})",
        )
        for row in _rows(report, blank="—"):
            table.add_row(*row)
        out.print(table)


def _rows(report: dict[str, Any], blank: str) -> list[list[str]]:
    """One row per figure of `overall`, with the members' and non-members' value where that group has one."""
    return [[name, *(_shown(report[group].get(name, blank), blank) for group in GROUPS)] for name in report["overall"]]


def _shown(value: object, blank: str) -> str:
    if value is None:
        return blank  # no denominator: no figure
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
