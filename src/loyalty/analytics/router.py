"""The KPIs of a period over HTTP (analytics scope)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from loyalty.analytics import launch as launches
from loyalty.analytics import service as analytics
from loyalty.analytics.dimensions import DIMENSIONS, chosen_split
from loyalty.analytics.schemas import KpiReport, LaunchReport
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
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
    summary="Get the KPIs of a period",
    description="Engagement (active / registered members, with the 70% line), churn, repeat purchase rate, purchase "
    "frequency, average check, revenue, historical LTV, points issued, redeemed, expired and taken back, redemption "
    "rate, breakage, the outstanding liability in points and money, and the program's cost as a share of revenue; "
    "orders, revenue and average check also for members' and non-members' orders apart. The period is [from, to): "
    "`to` is not part of it, so `from=2026-10-01&to=2026-11-01` is October. `to` must be after `from`, at most "
    "3653 days later. The README defines every figure. With `by`, the same figures for each group of a dimension "
    f"({', '.join(DIMENSIONS)}); a filter named after a dimension (`segment=vip`) keeps one of its groups.",
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
