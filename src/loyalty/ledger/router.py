"""A member's points over HTTP: the balance, the ledger entries and an operator's adjustment (under /v1/members/{id})."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from loyalty.core.instants import parse_happened_at
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.ledger import service as ledger_service
from loyalty.ledger.schemas import Adjustment, AdjustmentResult, Balance, EntryPage
from loyalty.members.lookups import require_member
from loyalty.storage.database import UnitOfWork

router = APIRouter(
    prefix="/v1/members", tags=["members"], dependencies=[Depends(deps.bearer_documented)], route_class=BodyRoute
)


@router.get(
    "/{member_id}/balance",
    response_model=Balance,
    summary="Get a member's points",
    description="Balance, spendable now, pending, held by reservations, debt and the next expiry dates; "
    "`restricted` lists the spendable points that can pay only part of an order (win-back points).",
)
def balance(member_id: deps.MemberId, request: Request) -> dict[str, Any]:
    deps.member_or_scope(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        require_member(uow, member_id)
        return ledger_service.balance(uow, member_id, deps.now(request))


@router.get(
    "/{member_id}/entries",
    response_model=EntryPage,
    summary="List a member's ledger entries",
    description="Newest first. Pass `next_cursor` back as `cursor` for the next page.",
)
def entries(
    member_id: deps.MemberId,
    request: Request,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    deps.member_or_scope(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        require_member(uow, member_id)
        page = ledger_service.entries(uow, member_id, after=int(cursor) if cursor else None, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return {"entries": page, "next_cursor": str(page[-1]["entry_no"]) if more else None}


@router.post(
    "/{member_id}/adjustments",
    status_code=201,
    response_model=AdjustmentResult,
    summary="Adjust a member's points by hand",
    description="Admin only; names the operator and the reason. `occurred_at` (default: now) dates the entry, and "
    "added points follow the expiry of the program in force then. Accepts an `Idempotency-Key` header.",
)
def adjust(member_id: deps.MemberId, body: Adjustment, request: Request, key: deps.Admin) -> JSONResponse:
    now = deps.now(request)
    occurred_at = now
    if body.occurred_at is not None:
        occurred_at = parse_happened_at(body.occurred_at, "occurred_at", now, zone=deps.program_zone(request))

    def run(uow: UnitOfWork) -> dict[str, Any]:
        require_member(uow, member_id)
        return ledger_service.adjust(uow, member_id, body.points, body.operator, body.reason, now, occurred_at)

    return deps.idempotent(request, key, body.model_dump(), 201, run)
