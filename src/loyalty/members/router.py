"""Members: register, read, update, look up, balance, ledger entries, member tokens, adjustments."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from loyalty.access import service as access
from loyalty.core.errors import InvalidInput
from loyalty.core.instants import parse_happened_at
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.http.errors import ApiError
from loyalty.ledger import service as ledger_service
from loyalty.ledger.schemas import Adjustment, AdjustmentResult, Balance, EntryPage
from loyalty.members import service as members
from loyalty.members.schemas import (
    Member,
    MemberToken,
    MemberUpdate,
    NewMember,
    Referral,
    ReferralAttach,
    ReferralList,
    TierStatus,
    TokenRequest,
)
from loyalty.referrals import service as referrals
from loyalty.storage.database import UnitOfWork
from loyalty.tiers import service as tiers

router = APIRouter(
    prefix="/v1/members", tags=["members"], dependencies=[Depends(deps.bearer_documented)], route_class=BodyRoute
)
Checkout = Annotated[access.ApiKey, Depends(deps.require("checkout"))]
Admin = Annotated[access.ApiKey, Depends(deps.require("admin"))]
MemberId = Annotated[int, Path(ge=1, le=10**18, description="The member's id")]


@router.post(
    "",
    status_code=201,
    response_model=Member,
    summary="Register a member",
    description="Creates the member with its identifiers and consents and grants the program's registration "
    "bonus of the version in force at `registered_at` (default: now), dated then. With a `referral_code` (another "
    "member's code), records the referral and grants the new member's referral bonus; an unknown code is refused "
    "and nothing is stored. Accepts an `Idempotency-Key` header.",
)
def create_member(body: NewMember, request: Request, key: Checkout) -> JSONResponse:
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
    _: Checkout,
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


def _member(request: Request, member_id: int) -> None:
    deps.member_or_scope(request, member_id)


@router.get(
    "/{member_id}",
    response_model=Member,
    summary="Get a member's profile",
    description="With a checkout key, or the member's own token.",
)
def get_member(member_id: MemberId, request: Request) -> dict[str, Any]:
    _member(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return _existing(uow, member_id)


def _existing(uow: UnitOfWork, member_id: int) -> dict[str, Any]:
    try:
        return members.profile(uow, member_id)
    except InvalidInput:
        raise ApiError(404, "not-found", "Not found", f"no member {member_id}") from None


@router.patch(
    "/{member_id}",
    response_model=Member,
    summary="Update a member's profile and consents",
    description="Only the fields sent change. Consents are recorded with the time and `source`.",
)
def update_member(member_id: MemberId, body: MemberUpdate, request: Request, key: Checkout) -> JSONResponse:
    data = body.model_dump(exclude_unset=True)
    if body.consents is not None:
        data["consents"] = body.consents.model_dump(exclude_none=True)
    now = deps.now(request)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        _existing(uow, member_id)
        return members.update(uow, member_id, data, now)

    return deps.idempotent(request, key, data, 200, run)


@router.get(
    "/{member_id}/balance",
    response_model=Balance,
    summary="Get a member's points",
    description="Balance, spendable now, pending, held by reservations, debt and the next expiry dates; "
    "`restricted` lists the spendable points that can pay only part of an order (win-back points).",
)
def balance(member_id: MemberId, request: Request) -> dict[str, Any]:
    _member(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        _existing(uow, member_id)
        return ledger_service.balance(uow, member_id, deps.now(request))


@router.get(
    "/{member_id}/tier",
    response_model=TierStatus,
    summary="Get a member's tier",
    description='The tier and its privileges, the progress to the next one ("2350.00 RUB more to Gold"), the '
    "date it is kept until, and the tier history. With a checkout key, or the member's own token.",
)
def tier(member_id: MemberId, request: Request) -> dict[str, Any]:
    _member(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        _existing(uow, member_id)
        return tiers.status(uow, member_id, deps.now(request))


@router.get(
    "/{member_id}/entries",
    response_model=EntryPage,
    summary="List a member's ledger entries",
    description="Newest first. Pass `next_cursor` back as `cursor` for the next page.",
)
def entries(
    member_id: MemberId,
    request: Request,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    _member(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        _existing(uow, member_id)
        page = ledger_service.entries(uow, member_id, after=int(cursor) if cursor else None, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return {"entries": page, "next_cursor": str(page[-1]["entry_no"]) if more else None}


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
def attach_referral(member_id: MemberId, body: ReferralAttach, request: Request, key: Checkout) -> JSONResponse:
    now = deps.now(request)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        _existing(uow, member_id)
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
def referred(member_id: MemberId, request: Request) -> dict[str, Any]:
    _member(request, member_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        _existing(uow, member_id)
        return referrals.referred_by(uow, member_id)


@router.post(
    "/{member_id}/token",
    response_model=MemberToken,
    summary="Issue a member token",
    description="A signed, expiring token that lets the member read only their own profile, balance and "
    "entries (send it as `Authorization: Bearer mt_...`).",
)
def token(member_id: MemberId, request: Request, _: Checkout, body: TokenRequest | None = None) -> dict[str, Any]:
    ttl = timedelta(seconds=(body or TokenRequest()).ttl_seconds)
    with UnitOfWork(deps.engine(request)) as uow:
        _existing(uow, member_id)
        secret = access.signing_secret(uow)
        uow.commit()
    value, expires = access.member_token(secret, member_id, deps.now(request), ttl)
    return {"token": value, "expires_at": expires.isoformat()}


@router.post(
    "/{member_id}/adjustments",
    status_code=201,
    response_model=AdjustmentResult,
    summary="Adjust a member's points by hand",
    description="Admin only; names the operator and the reason. `occurred_at` (default: now) dates the entry, and "
    "added points follow the expiry of the program in force then. Accepts an `Idempotency-Key` header.",
)
def adjust(member_id: MemberId, body: Adjustment, request: Request, key: Admin) -> JSONResponse:
    now = deps.now(request)
    occurred_at = now
    if body.occurred_at is not None:
        occurred_at = parse_happened_at(body.occurred_at, "occurred_at", now, zone=deps.program_zone(request))

    def run(uow: UnitOfWork) -> dict[str, Any]:
        _existing(uow, member_id)
        return ledger_service.adjust(uow, member_id, body.points, body.operator, body.reason, now, occurred_at)

    return deps.idempotent(request, key, body.model_dump(), 201, run)
