"""Referrals over HTTP: a member's referrer added late, and the members a member referred (under /v1/members/{id})."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.members.lookups import require_member
from loyalty.referrals import service as referrals
from loyalty.referrals.schemas import Referral, ReferralAttach, ReferralList
from loyalty.storage.database import UnitOfWork

router = APIRouter(
    prefix="/v1/members", tags=["members"], dependencies=[Depends(deps.bearer_documented)], route_class=BodyRoute
)


@router.post(
    "/{member_id}/referral",
    status_code=201,
    response_model=Referral,
    summary="Add the code of the member who referred this one",
    description="Within the program's `attach_within_days` of registering and before the member's first confirmed "
    "order, grants the new member's referral bonus. The member's own code and a referrer the member referred "
    "(directly or through others) are refused (422); a member who already has another referrer, or who is too "
    "late, gets 409. Sending the same code again returns the referral unchanged. Accepts an `Idempotency-Key`.",
)
def attach_referral(
    member_id: deps.MemberId, body: ReferralAttach, request: Request, key: deps.Checkout
) -> JSONResponse:
    now = deps.now(request)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        require_member(uow, member_id)
        return referrals.attach(uow, member_id, body.code, now)

    return deps.idempotent(request, key, body.model_dump(), 201, run)


@router.get(
    "/{member_id}/referrals",
    response_model=ReferralList,
    summary="List the members a member referred",
    description="Oldest first, each pending (waiting for the referred member's first order to pass its return "
    "window), rewarded or void (with the reason, e.g. the referrer's cap), with counts by status and the points "
    "earned. With a checkout key, or the member's own token.",
)
def referred(member_id: deps.MemberId, request: Request) -> dict[str, Any]:
    deps.member_or_scope(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        require_member(uow, member_id)
        return referrals.referred_by(uow, member_id)
