"""The KPIs of a period over HTTP (analytics scope)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from loyalty.analytics import service as analytics
from loyalty.analytics.schemas import KpiReport
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1/analytics", tags=["analytics"], route_class=BodyRoute)
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
    "3653 days later. The README defines every figure.",
)
def kpis(
    request: Request,
    _: deps.Analytics,
    start: Annotated[str, Query(alias="from", max_length=40, description=f"The first instant: {BOUND}")],
    end: Annotated[str, Query(alias="to", max_length=40, description=f"The end, not included: {BOUND}")],
) -> dict[str, Any]:
    zone = deps.program_zone(request)
    first = parse_instant(start, "from", zone=zone, day="start")
    last = parse_instant(end, "to", zone=zone, day="start")
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return analytics.kpis(uow, first, last)
