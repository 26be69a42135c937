"""`loyalty kpi`: the KPIs of a period, split by a dimension or not, or before vs after a launch, as a table, JSON,
CSV or Parquet."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow.parquet as pq
import typer
from rich.table import Table

from loyalty.analytics import columns
from loyalty.analytics import launch as launches
from loyalty.analytics import service as analytics
from loyalty.analytics.dimensions import DIMENSIONS
from loyalty.cli.terminal import DatabaseOption, fail, instant, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

GROUPS = ("overall", "members", "non_members")
MOVES = ("before", "after", "change", "relative_change")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


def kpi(
    start: Annotated[
        str | None, typer.Option("--from", help="The first day (YYYY-MM-DD, in the program's time zone) or instant.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="The day the period ends, not included (2026-11-01 ends October).")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help=f"Split by {', '.join(DIMENSIONS)}.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Only this group of --by (a segment id, ...).")] = None,
    launch: Annotated[
        str | None, typer.Option("--launch", help="Compare the --days before this day with the --days from it.")
    ] = None,
    days: Annotated[int | None, typer.Option("--days", help="The days on either side of --launch (1 to 1825).")] = None,
    output: Annotated[
        Format, typer.Option("--format", help="table (default), json, csv or parquet (with --output).")
    ] = Format.TABLE,
    file: Annotated[Path | None, typer.Option("--output", help="The file to write (parquet needs one).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Print the KPIs of the period [--from, --to): engagement against the 70% line, churn, repeat purchases,
    average check, LTV, points, redemption, breakage, liability and the program's cost; members' and non-members'
    orders apart; for each group of --by too. With --launch and --days, the KPIs before and after a launch side by
    side instead."""
    _check_options(start, end, by, group, launch, days, output, file)
    engine = make_engine(database)
    at = now()
    zone = programs.lazy_time_zone(engine, at)
    try:
        with UnitOfWork(engine, read_only=True) as uow:
            if launch is not None and days is not None:
                launched = instant(launch, "--launch", zone, day="start")
                report = launches.compare(uow, launched, days)
            else:
                first = instant(start or "", "--from", zone, day="start")
                last = instant(end or "", "--to", zone, day="start")
                report = analytics.kpis(uow, first, last, by=by, only=group, now=at)
    except LoyaltyError as error:
        fail(error)
    if output is Format.PARQUET:
        assert file is not None  # checked with the options
        pq.write_table(columns.launch_table(report) if launch else columns.kpi_table(report), file)
        out.print(f"Wrote {file}")
    elif output is Format.JSON:
        print_json(report)
    elif launch is not None:
        _print(output, ["kpi", *MOVES], _moves(report, blank=_blank(output)), _launch_title(report))
    elif "by" not in report:  # not split
        _print(output, ["kpi", *GROUPS], _rows(report, blank=_blank(output)), _title(report))
    else:
        names = [_group_name(g["group"]) for g in report["groups"]]
        _print(output, ["kpi", "overall", *names], _split_rows(report, _blank(output)), _title(report))


def _check_options(
    start: str | None,
    end: str | None,
    by: str | None,
    group: str | None,
    launch: str | None,
    days: int | None,
    output: Format,
    file: Path | None,
) -> None:
    """The options that go together: a period or a launch, --group with --by, --output with parquet."""
    if launch is not None:
        if days is None:
            raise typer.BadParameter("--launch needs --days, the days on either side", param_hint="--days")
        clash = next((name for name, value in (("--from", start), ("--to", end), ("--by", by)) if value), None)
        if clash:
            raise typer.BadParameter("compares whole periods around --launch, not [--from, --to)", param_hint=clash)
    else:
        for name, value in (("--from", start), ("--to", end)):
            if value is None:
                raise typer.BadParameter("is needed (or --launch and --days)", param_hint=name)
        if days is not None:
            raise typer.BadParameter("goes with --launch", param_hint="--days")
    if group is not None and by is None:
        raise typer.BadParameter("is a group of --by: give --by too", param_hint="--group")
    if output is Format.PARQUET and file is None:
        raise typer.BadParameter("--format parquet writes a file: give --output FILE", param_hint="--output")


def _blank(output: Format) -> str:
    return "" if output is Format.CSV else "—"


def _title(report: dict[str, Any]) -> str:
    return f"{report['from']} to {report['to']} ({report['currency']})"


def _launch_title(report: dict[str, Any]) -> str:
    return f"{report['days']} days before and after {report['launch']} ({report['currency']})"


def _group_name(group: str | None) -> str:
    return "(none)" if group is None else group


def _print(output: Format, header: list[str], rows: list[list[str]], title: str) -> None:
    if output is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    table = Table(*(name.replace("_", " ") if name in GROUPS else name for name in header), title=title)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _rows(report: dict[str, Any], blank: str) -> list[list[str]]:
    """One row per figure of `overall`, with the members' and non-members' value where that group has one."""
    return [[name, *(_shown(report[group].get(name, blank), blank) for group in GROUPS)] for name in report["overall"]]


def _split_rows(report: dict[str, Any], blank: str) -> list[list[str]]:
    """One row per figure of `overall`, with each group's value where its dimension has that figure."""
    return [
        [name, _shown(value, blank), *(_shown(g["figures"].get(name, blank), blank) for g in report["groups"])]
        for name, value in report["overall"].items()
    ]


def _moves(report: dict[str, Any], blank: str) -> list[list[str]]:
    """One row per figure: overall's by name, members' and non-members' order figures prefixed by their part."""
    rows = []
    for part in GROUPS:
        for name, moved in report[part].items():
            label = name if part == "overall" else f"{part}.{name}"
            rows.append([label, *(_shown(moved[key], blank) for key in MOVES)])
    return rows


def _shown(value: object, blank: str) -> str:
    if value is None:
        return blank  # no denominator: no figure
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
