"""The KPIs of a period, cohorts, the liability and its daily journal over HTTP (analytics scope)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from itertools import islice
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from loyalty.analytics import cohorts, journal, liability, simulation
from loyalty.analytics import launch as launches
from loyalty.analytics import service as analytics
from loyalty.analytics.accounting_schemas import CohortReport, JournalReport, LiabilityReport
from loyalty.analytics.dimensions import DIMENSIONS, chosen_split
from loyalty.analytics.schemas import KpiReport, LaunchReport, SimulationReport, SimulationRequest
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.http.schemas import DATE_OR_DATE_TIME
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1/analytics", tags=["analytics"], route_class=BodyRoute)
FILTERS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": split.max_length},
        "description": f"Only the group of {split.describes} with this id (splits by {name})",
    }
    for name, split in DIMENSIONS.items()
]
BOUND = (
    "a date YYYY-MM-DD (that day's first instant in the program's time zone) or an ISO 8601 date-time with an offset"
)


@router.get(
    "/kpis",
    response_model=KpiReport,
    response_model_by_alias=True,
    response_model_exclude_unset=True,  # `by` and `groups` only when split
    summary="Get the KPIs of a period",
    description="Engagement (active / registered members, with the 70% line), churn, repeat purchase rate, purchase "
    "frequency, average check, revenue, historical LTV, points issued, redeemed, expired and taken back, redemption "
    "rate, breakage, the outstanding liability in points and money, and the program's cost as a share of revenue; "
    "orders, revenue and average check also for members' and non-members' orders apart. The period is [from, to): "
    "`to` is not part of it, so `from=2026-10-01&to=2026-11-01` is October. `to` must be after `from`, at most "
    "3653 days later. The README defines every figure. With `by`, the same figures for each group of a dimension "
    f"({', '.join(DIMENSIONS)}) in `groups`, and the dimension in `by` (both only when split); a filter named after a "
    "dimension (`segment=vip`) keeps one of its groups.",
    openapi_extra={"parameters": FILTERS},
)
def kpis(
    request: Request,
    _: deps.Analytics,
    start: Annotated[str, Query(alias="from", max_length=40, description=f"The first instant: {BOUND}")],
    end: Annotated[str, Query(alias="to", max_length=40, description=f"The end, not included: {BOUND}")],
    by: Annotated[str | None, Query(max_length=20, description=f"Split by one of: {', '.join(DIMENSIONS)}")] = None,
) -> dict[str, Any]:
    zone = deps.program_zone(request)
    first = parse_instant(start, "from", zone=zone, day="start")
    last = parse_instant(end, "to", zone=zone, day="start")
    filters = {name: request.query_params[name] for name in DIMENSIONS if name in request.query_params}
    split, only = chosen_split(by, filters)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return analytics.kpis(uow, first, last, by=split, only=only, now=deps.now(request))


@router.get(
    "/kpis/launch",
    response_model=LaunchReport,
    response_model_by_alias=True,
    summary="Compare the KPIs before and after a launch",
    description="The KPIs of the `days` before `date` and of the `days` from it ([date - days, date) and [date, "
    "date + days), calendar days in the program's time zone) side by side: for each figure its value before and "
    "after, the change after - before and the relative change (after - before) / |before|, as decimal strings; "
    "null where a value is null, for a flag, and (relative) when before is 0. `days` is 1 to 1825.",
)
def launch(
    request: Request,
    _: deps.Analytics,
    day: Annotated[str, Query(alias="date", max_length=40, description=f"The launch: {BOUND}")],
    days: Annotated[int, Query(description="The days on either side, 1 to 1825")],
) -> dict[str, Any]:
    launched = parse_instant(day, "date", zone=deps.program_zone(request), day="start")
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return launches.compare(uow, launched, days)


@router.post(
    "/simulations",
    response_model=SimulationReport,
    response_model_by_alias=True,
    summary="Simulate a program over the stored history",
    description="Replays every stored member and order under `program` (a draft need not be published), as if it "
    "had been in force all along, and returns month by month what it would have issued, redeemed and expired, the "
    "liability and the cost as a share of revenue, beside what the ledger shows. Writes nothing. Who pays with "
    "points is an assumption: `redeeming_members` (share of members) and `redeeming_orders` (share of their "
    "orders, paying as much as the program allows), by default the shares of the history. An invalid program is "
    "422 with each field's path.",
)
def simulate(body: SimulationRequest, request: Request, _: deps.Analytics) -> dict[str, Any]:
    zone = deps.program_zone(request)
    first = parse_instant(body.from_, "from", zone=zone, day="start")
    last = parse_instant(body.to, "to", zone=zone, day="start")
    document = programs.read_document_json(body.program)
    with UnitOfWork(deps.engine(request), snapshot=True) as uow:
        behaviour = simulation.behaviour(uow, body.redeeming_members, body.redeeming_orders)
        return simulation.simulate(uow, document, first, last, deps.now(request), behaviour)


# Cohorts, the liability and the daily journal: JSON, or CSV with `format=csv` or `Accept: text/csv`.
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}, "example": "date,movement,points,amount,..."}}}
}
FormatQuery = Annotated[
    Literal["json", "csv"] | None,
    Query(alias="format", description="csv for CSV (as is `Accept: text/csv`); JSON otherwise"),
]


def _wants_csv(request: Request, output: str | None) -> bool:
    if output is not None:
        return output == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv(columns: Sequence[str], rows: Iterable[Sequence[str]], name: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return Response(buffer.getvalue(), media_type=CSV_TYPE, headers=_attachment(name))


CSV_TYPE = "text/csv; charset=utf-8"
CSV_CHUNK = 2_000  # rows of a streamed CSV sent at a time


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}.csv"'}


def _lot_register_csv(engine: Engine, at: datetime) -> StreamingResponse:
    """The lot register as CSV, streamed as it is read (it can hold millions of lots), so memory stays flat. Its
    unit of work (a snapshot: PostgreSQL streams through a server-side cursor, in a transaction) stays open while
    the rows go out and closes after the last one; what can fail (no program) fails before the first byte."""
    stack = ExitStack()
    try:
        uow = stack.enter_context(UnitOfWork(engine, snapshot=True))
        rows = liability.lot_rows(liability.lot_register(uow, at))
    except BaseException:
        stack.close()
        raise
    chunks = _csv_chunks(liability.LOT_COLUMNS, rows, stack)
    return StreamingResponse(chunks, media_type=CSV_TYPE, headers=_attachment("lots"))


def _csv_chunks(columns: Sequence[str], rows: Iterator[Sequence[str]], closing: ExitStack) -> Iterator[str]:
    """The header and the rows as CSV text, `CSV_CHUNK` rows at a time; `closing` closed at the end (or when the
    client goes away and the response is dropped)."""
    with closing:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        while chunk := list(islice(rows, CSV_CHUNK)):
            writer.writerows(chunk)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():  # the header of a register without lots
            yield buffer.getvalue()


def _period(request: Request, start: str, end: str) -> tuple[datetime, datetime]:
    zone = deps.program_zone(request)
    return parse_instant(start, "from", zone=zone, day="start"), parse_instant(end, "to", zone=zone, day="start")


@router.get(
    "/cohorts",
    response_model=CohortReport,
    response_model_by_alias=True,
    responses=CSV_RESPONSE,
    summary="Get retention by month of registration and the liability at each month end",
    description="For each calendar month of [from, to) in the program's time zone (the first and last cut to the "
    "period): the members who registered in it and, for it and every later month, how many of them were active "
    "(earned or spent points) and their share; and the points outstanding at each month's end with their money "
    "value. CSV: one row per cohort and month.",
)
def cohort_report(
    request: Request,
    _: deps.Analytics,
    start: Annotated[str, Query(alias="from", max_length=40, description=f"The first instant: {BOUND}")],
    end: Annotated[str, Query(alias="to", max_length=40, description=f"The end, not included: {BOUND}")],
    output: FormatQuery = None,
) -> Any:
    first, last = _period(request, start, end)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        report = cohorts.cohorts(uow, first, last)
    if _wants_csv(request, output):
        return _csv(cohorts.CSV_COLUMNS, cohorts.csv_rows(report), "cohorts")
    return report


@router.get(
    "/liability",
    response_model=LiabilityReport,
    responses=CSV_RESPONSE,
    summary="Get the outstanding points liability by expiry month and source, with the expected breakage",
    description="The points outstanding at `as_of` (default: now) as the lots that hold them, by month of expiry and "
    "by the rule that credited them, less what members owe, in points and in money at the point value in force; "
    "the breakage expected of them (the share of the points of matured lots that expired rather than being "
    "redeemed) and what is left to be redeemed. CSV: the lot register, one row per lot holding points.",
)
def liability_report(
    request: Request,
    _: deps.Analytics,
    as_of: Annotated[
        str | None,
        Query(
            max_length=40,
            description="The instant; a bare date is the end of that day in the program's zone",
            json_schema_extra=DATE_OR_DATE_TIME,
        ),
    ] = None,
    output: FormatQuery = None,
) -> Any:
    at = (
        deps.now(request)
        if as_of is None
        else parse_instant(as_of, "as_of", zone=deps.program_zone(request), day="end")
    )
    if _wants_csv(request, output):
        return _lot_register_csv(deps.engine(request), at)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return liability.liability(uow, at)


@router.get(
    "/journal",
    response_model=JournalReport,
    response_model_by_alias=True,
    responses=CSV_RESPONSE,
    summary="Get the daily journal of the points liability",
    description="Each day of [from, to) in the program's time zone with movements: points issued (on purchases and "
    "as bonuses), redeemed, expired, reversed by returns and adjusted, each with its money value and the accounts "
    "to debit and credit, and the closing liability; the opening and closing liability of the period. The README "
    "explains the accounts. CSV: one row per line, for posting to a general ledger.",
)
def journal_report(
    request: Request,
    _: deps.Analytics,
    start: Annotated[str, Query(alias="from", max_length=40, description=f"The first instant: {BOUND}")],
    end: Annotated[str, Query(alias="to", max_length=40, description=f"The end, not included: {BOUND}")],
    output: FormatQuery = None,
) -> Any:
    first, last = _period(request, start, end)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        report = journal.journal(uow, first, last)
    if _wants_csv(request, output):
        return _csv(journal.CSV_COLUMNS, journal.csv_rows(report), "journal")
    return report
