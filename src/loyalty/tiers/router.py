"""A member's tier over HTTP (under /v1/members/{id})."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.members.lookups import require_member
from loyalty.storage.database import UnitOfWork
from loyalty.tiers import service as tiers
from loyalty.tiers.schemas import TierStatus

router = APIRouter(
    prefix="/v1/members", tags=["members"], dependencies=[Depends(deps.bearer_documented)], route_class=BodyRoute
)


@router.get(
    "/{member_id}/tier",
    response_model=TierStatus,
    summary="Get a member's tier",
    description='The tier and its privileges, the progress to the next one ("2350.00 RUB more to Gold"), the '
    "date it is kept until, and the tier history. With a checkout key, or the member's own token.",
)
def tier(member_id: deps.MemberId, request: Request) -> dict[str, Any]:
    deps.member_or_scope(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        require_member(uow, member_id)
        return tiers.status(uow, member_id, deps.now(request))
