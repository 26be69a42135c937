"""Members: register, read, update and look up a member. The member's points, tier, referrals and token are served
under the same path by their areas' routers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from loyalty.core.errors import InvalidInput
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.http.errors import ApiError
from loyalty.members import service as members
from loyalty.members.lookups import member_profile, require_member
from loyalty.members.schemas import Member, MemberUpdate, NewMember
from loyalty.storage.database import UnitOfWork

router = APIRouter(
    prefix="/v1/members", tags=["members"], dependencies=[Depends(deps.bearer_documented)], route_class=BodyRoute
)


@router.post(
    "",
    status_code=201,
    response_model=Member,
    summary="Register a member",
    description="Creates the member with its identifiers and consents and grants the program's registration "
    "bonus of the version in force at `registered_at` (default: now), dated then. With a `referral_code` (another "
    "member's code), records the referral and grants the new member's referral bonus; an unknown code is refused "
    "and nothing is stored. A member registering into an experiment's control group without the program gets "
    "neither bonus (the events record why). Accepts an `Idempotency-Key` header.",
)
def create_member(body: NewMember, request: Request, key: deps.Checkout) -> JSONResponse:
    data = body.model_dump(exclude_none=True)
    data["consents"] = {k: v for k, v in (body.consents.model_dump() if body.consents else {}).items() if v is not None}
    now = deps.now(request)
    member = members.parse_member(data, now, zone=deps.program_zone(request))

    def run(uow: UnitOfWork) -> dict[str, Any]:
        return members.profile(uow, members.register(uow, member, now))

    return deps.idempotent(request, key, body.model_dump(), 201, run)


@router.get(
    "/lookup",
    response_model=Member,
    summary="Find a member by an identifier",
    description="Exactly one of phone, email, card, external_id. Phones are matched in E.164 form.",
)
def lookup(
    request: Request,
    _: deps.Checkout,
    phone: str | None = None,
    email: str | None = None,
    card: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    given = {k: v for k, v in {"phone": phone, "email": email, "card": card, "external_id": external_id}.items() if v}
    if len(given) != 1:
        raise InvalidInput.at("query", "give exactly one of phone, email, card, external_id")
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        ((kind, value),) = given.items()
        member_id = members.find(uow, kind, members.normalise_identifier(kind, value, kind))
        if member_id is None:
            raise ApiError(404, "not-found", "Not found", f"no member with {kind} {value}")
        return members.profile(uow, member_id)


@router.get(
    "/{member_id}",
    response_model=Member,
    summary="Get a member's profile",
    description="With a checkout key, or the member's own token.",
)
def get_member(member_id: deps.MemberId, request: Request) -> dict[str, Any]:
    deps.member_or_scope(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return member_profile(uow, member_id)


@router.patch(
    "/{member_id}",
    response_model=Member,
    summary="Update a member's profile and consents",
    description="Only the fields sent change. Consents are recorded with the time and `source`.",
)
def update_member(member_id: deps.MemberId, body: MemberUpdate, request: Request, key: deps.Checkout) -> JSONResponse:
    data = body.model_dump(exclude_unset=True)
    if body.consents is not None:
        data["consents"] = body.consents.model_dump(exclude_none=True)
    now = deps.now(request)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        require_member(uow, member_id)
        return members.update(uow, member_id, data, now)

    return deps.idempotent(request, key, data, 200, run)
