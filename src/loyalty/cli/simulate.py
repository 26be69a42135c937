"""`loyalty simulate`: the stored history replayed under another program (a draft or a published file)."""

from __future__ import annotations

import csv
import sys
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loyalty.analytics import simulation
from loyalty.cli.terminal import DatabaseOption, err, fail, instant, now, out, print_json
from loyalty.core.errors import InvalidInput, LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

FIGURES = (
    "points_issued",
    "campaign_points_issued",
    "points_redeemed",
    "points_expired",
    "liability_points",
    "program_cost_share",
)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def simulate(
    program_file: Annotated[Path, typer.Argument(help="The program to simulate: a YAML or JSON program file.")],
    start: Annotated[str, typer.Option("--from", help="The first day shown (YYYY-MM-DD) or instant.")],
    end: Annotated[str, typer.Option("--to", help="The day the period ends, not included.")],
    redeeming_members: Annotated[
        str | None, typer.Option(help="Share of members who pay with points (default: the history's).")
    ] = None,
    redeeming_orders: Annotated[
        str | None, typer.Option(help="Share of their orders they pay partly with points (default: the history's).")
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="table (default), json or csv.")] = Format.TABLE,
    charts: Annotated[
        Path | None,
        typer.Option("--charts", help="Also draw the comparison as simulation.png and .svg in this folder."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """What the stored history would have issued, redeemed and expired, the liability and the cost, month by month,
    had PROGRAM_FILE been in force all along — beside what the ledger shows. Writes nothing."""
    engine = make_engine(database)
    at = now()
    zone = programs.lazy_time_zone(engine, at)
    first, last = instant(start, "--from", zone, day="start"), instant(end, "--to", zone, day="start")
    try:
        document = programs.read_document_file(program_file)
        with UnitOfWork(engine, snapshot=True) as uow:
            behaviour = simulation.behaviour(
                uow,
                _share(redeeming_members, "--redeeming-members"),
                _share(redeeming_orders, "--redeeming-orders"),
            )
            report = simulation.simulate(uow, document, first, last, at, behaviour)
    except LoyaltyError as error:
        fail(error)
    if charts is not None:
        from loyalty.analytics.charts import simulation_chart  # matplotlib is loaded by the commands that draw

        written = simulation_chart({**report, "program": document.get("name") or program_file.name}, charts)
        err.print(f"Charts: {', '.join(str(p) for p in written)}", soft_wrap=True)
    if output is Format.JSON:
        print_json(report)
    elif output is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        names = list(report["total"]["actual"])
        writer.writerow(["month", *(f"actual_{n}" for n in names), *(f"simulated_{n}" for n in names)])
        for row in [*report["months"], {"month": "total", **report["total"]}]:
            writer.writerow([row["month"], *_values(row["actual"], names), *_values(row["simulated"], names)])
    else:
        assumptions = report["assumptions"]
        table = Table(
            "month",
            *(f"{n}\nactual / simulated" for n in FIGURES),
            title=f"{program_file.name}: {report['from'][:10]} to {report['to'][:10]} ({report['currency']}); "
            f"{assumptions['redeeming_members']} of members redeem on {assumptions['redeeming_orders']} of orders",
        )
        for row in [*report["months"], {"month": "total", **report["total"]}]:
            table.add_row(
                row["month"], *(f"{_shown(row['actual'][n])} / {_shown(row['simulated'][n])}" for n in FIGURES)
            )
        out.print(table)


def _share(value: str | None, option: str) -> Decimal | None:
    if value is None:
        return None
    try:
        share = Decimal(value)
    except InvalidOperation:
        raise InvalidInput.at(option, f"{value!r} is not a number") from None
    if not share.is_finite() or not Decimal(0) <= share <= Decimal(1):
        raise InvalidInput.at(option, "must be a share between 0 and 1")
    return share


def _values(figures: dict[str, Any], names: list[str]) -> list[str]:
    return ["" if figures[n] is None else str(figures[n]) for n in names]


def _shown(value: object) -> str:
    return "—" if value is None else str(value)
