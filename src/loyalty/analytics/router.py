"""The KPIs of a period over HTTP (analytics scope)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from loyalty.analytics import service as analytics
from loyalty.analytics import simulation
from loyalty.analytics.schemas import KpiReport, SimulationReport, SimulationRequest
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.program import service as programs
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
        behaviour = None
        if body.redeeming_members is not None or body.redeeming_orders is not None:
            estimated = simulation.estimate_behaviour(uow)
            behaviour = simulation.Behaviour(
                body.redeeming_members if body.redeeming_members is not None else estimated.redeeming_members,
                body.redeeming_orders if body.redeeming_orders is not None else estimated.redeeming_orders,
            )
        return simulation.simulate(uow, document, first, last, deps.now(request), behaviour)
