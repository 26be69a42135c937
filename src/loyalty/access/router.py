"""Member tokens over HTTP: a token that lets a member's app read that member only (under /v1/members/{id})."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request

from loyalty.access import service as access
from loyalty.access.schemas import MemberToken, TokenRequest
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.members.lookups import require_member
from loyalty.storage.database import UnitOfWork

router = APIRouter(
    prefix="/v1/members", tags=["members"], dependencies=[Depends(deps.bearer_documented)], route_class=BodyRoute
)


@router.post(
    "/{member_id}/token",
    response_model=MemberToken,
    summary="Issue a member token",
    description="A signed, expiring token that lets the member read only their own profile, balance and "
    "entries (send it as `Authorization: Bearer mt_...`).",
)
def token(
    member_id: deps.MemberId, request: Request, _: deps.Checkout, body: TokenRequest | None = None
) -> dict[str, Any]:
    ttl = timedelta(seconds=(body or TokenRequest()).ttl_seconds)
    with UnitOfWork(deps.engine(request)) as uow:
        require_member(uow, member_id)
        secret = access.signing_secret(uow)
        uow.commit()
    value, expires = access.member_token(secret, member_id, deps.now(request), ttl)
    return {"token": value, "expires_at": expires.isoformat()}
