"""Campaigns and personal offers: define and change them (admin), read them (analytics), and the offers a member
has (checkout key or the member's own token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from loyalty.campaigns import offerings
from loyalty.campaigns import service as campaigns
from loyalty.campaigns.schemas import CampaignDefinition, CampaignList, CampaignView, MemberOffers, RevisionList
from loyalty.core import limits
from loyalty.core.errors import InvalidInput
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.http.errors import ApiError
from loyalty.members import service as members
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1", tags=["campaigns"], route_class=BodyRoute)
CampaignId = Annotated[
    str, Path(pattern=limits.id_pattern(limits.CAMPAIGN_ID), description="The campaign's or offer's id")
]


def _routes(personal: bool) -> None:
    noun = "offer" if personal else "campaign"
    plural = f"/{noun}s"
    what = (
        "A personal offer: given to the members of segments or to a list, with its own validity; the member sees it "
        "at GET /v1/members/{member_id}/offers and only they get it at the checkout."
        if personal
        else "A time-boxed earning or redemption rule aimed at everyone, segments, tiers or a list, with a budget, a "
        "per-member cap and a stacking policy."
    )

    @router.post(
        plural,
        status_code=201,
        response_model=CampaignView,
        summary=f"Create a{'n' if personal else ''} {noun}",
        description=f"{what} A bad definition is 422 with each field's path and stores nothing; an id already taken "
        "is 409. Accepts an `Idempotency-Key` header.",
        operation_id=f"create_{noun}",
    )
    def create(body: CampaignDefinition, request: Request, key: deps.Admin) -> JSONResponse:
        data, now = body.as_dict(), deps.now(request)
        return deps.idempotent(request, key, data, 201, lambda uow: campaigns.create(uow, data, now, personal=personal))

    @router.put(
        f"{plural}/{{campaign_id}}",
        response_model=CampaignView,
        summary=f"Change a{'n' if personal else ''} {noun}",
        description="Replaces the definition with a new revision, from the next order on. Points already given are "
        "never changed; a budget cannot go below what was given. Accepts an `Idempotency-Key` header.",
        operation_id=f"change_{noun}",
    )
    def change(campaign_id: CampaignId, body: CampaignDefinition, request: Request, key: deps.Admin) -> JSONResponse:
        data, now = body.as_dict(), deps.now(request)
        return deps.idempotent(
            request, key, data, 200, lambda uow: campaigns.update(uow, campaign_id, data, now, personal=personal)
        )

    @router.get(
        plural,
        response_model=CampaignList,
        summary=f"List {noun}s",
        description="Each with its revision, points given, members rewarded and the budget left.",
        operation_id=f"list_{noun}s",
    )
    def list_all(request: Request, _: deps.Analytics) -> dict[str, Any]:
        with UnitOfWork(deps.engine(request), read_only=True) as uow:
            return {"campaigns": campaigns.list_campaigns(uow, personal=personal)}

    @router.get(
        f"{plural}/{{campaign_id}}",
        response_model=CampaignView,
        summary=f"Get a{'n' if personal else ''} {noun}",
        operation_id=f"get_{noun}",
    )
    def get_one(campaign_id: CampaignId, request: Request, _: deps.Analytics) -> dict[str, Any]:
        with UnitOfWork(deps.engine(request), read_only=True) as uow:
            return campaigns.get(uow, campaign_id, personal=personal)

    @router.get(
        f"{plural}/{{campaign_id}}/revisions",
        response_model=RevisionList,
        summary=f"List a{'n' if personal else ''} {noun}'s revisions",
        operation_id=f"list_{noun}_revisions",
    )
    def list_revisions(campaign_id: CampaignId, request: Request, _: deps.Analytics) -> dict[str, Any]:
        with UnitOfWork(deps.engine(request), read_only=True) as uow:
            return {"revisions": campaigns.revisions(uow, campaign_id, personal=personal)}


_routes(personal=False)
_routes(personal=True)


@router.get(
    "/members/{member_id}/offers",
    response_model=MemberOffers,
    summary="List a member's personal offers",
    description="The offers aimed at the member that are valid now or later. With a checkout key, or the member's "
    "own token.",
    dependencies=[Depends(deps.bearer_documented)],
)
def member_offers(member_id: deps.MemberId, request: Request) -> dict[str, Any]:
    deps.member_or_scope(request, member_id)
    now = deps.now(request)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        try:
            members.profile(uow, member_id)
        except InvalidInput:
            raise ApiError(404, "not-found", "Not found", f"no member {member_id}") from None
        return {"member_id": member_id, "offers": offerings.offers_for(uow, member_id, now)}
