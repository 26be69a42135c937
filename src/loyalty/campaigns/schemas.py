"""The HTTP bodies of campaigns and personal offers: a definition as the marketer writes it, a campaign as it is
read back with its figures, its revisions, and the offers a member has."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.http.schemas import DATE_OR_DATE_TIME, Instant, MemberRef, Strict

COFFEE_X2: dict[str, Any] = {
    "id": "coffee-x2-november",
    "name": "x2 points on coffee in November",
    "starts_at": "2026-11-01",
    "ends_at": "2026-11-30",
    "audience": "everyone",
    "earning": {"categories": ["coffee"], "multiplier": 2},
    "budget_points": 1000000,
    "per_member_cap_points": 2000,
}
AVERAGE_CHECK_OFFER: dict[str, Any] = {
    "id": "check-800-to-1000",
    "name": "10% instead of 5% on orders from 1,000 ₽",
    "description": "For guests who usually spend about 800 ₽",
    "starts_at": "2026-11-01",
    "ends_at": "2026-12-31",
    "audience": {"segments": ["check-800"]},
    "earning": {"percent": 10, "min_order_amount": "1000"},
    "stacking": "best",
}


class Audience(Strict):
    """Exactly one of these."""

    segments: list[Annotated[str, Field(max_length=limits.SEGMENT_ID)]] | None = Field(None, max_length=100)
    tiers: list[Annotated[str, Field(max_length=limits.TIER_ID)]] | None = Field(None, max_length=100)
    members: list[MemberRef] | None = Field(None, max_length=100_000, description="A list of members")


class CampaignDefinition(Strict):
    id: Annotated[str, Field(max_length=limits.CAMPAIGN_ID)] | None = Field(
        None, description="Required to create; in a PUT the id is the path's"
    )
    name: Annotated[str, Field(max_length=limits.NAME)]
    description: Annotated[str, Field(max_length=limits.CAMPAIGN_DESCRIPTION)] | None = None
    enabled: bool = Field(True, description="false pauses it: it gives nothing until enabled again")
    starts_at: Annotated[str, Field(max_length=40, json_schema_extra=DATE_OR_DATE_TIME)] = Field(
        description="A date (from the start of that day in the program's time zone) or a date-time with an offset"
    )
    ends_at: Annotated[str, Field(max_length=40, json_schema_extra=DATE_OR_DATE_TIME)] | None = Field(
        None, description="A date (through the end of that day) or a date-time with an offset (exclusive)"
    )
    days_of_week: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = Field(None, max_length=7)
    hours: dict[Literal["from", "to"], Annotated[str, Field(max_length=5)]] | None = Field(
        None, description='{"from": "08:00", "to": "11:00"}: local times; a window past midnight is allowed'
    )
    audience: Literal["everyone"] | Audience = Field(
        "everyone", description="Campaigns: everyone, segments, tiers or a list; offers: segments or a list"
    )
    earning: dict[str, Any] | None = Field(
        None,
        description="A program rule without id and name — conditions (categories, skus, channels, stores, "
        "min_order_amount, tiers, birthday, viewed_within_days, ...) and one effect (percent, bands, per_step, "
        "fixed_points) — or `multiplier` of what the program's rules earn on the lines it admits",
    )
    redemption: dict[str, Any] | None = Field(
        None, description="While in force: max_share_percent and/or min_check that replace the program's"
    )
    stacking: Literal["add", "best", "exclusive"] = Field("add", description="See the README: Campaigns")
    priority: int = Field(0, ge=-1000, le=1000, description="Higher first, for best and exclusive")
    budget_points: int | None = Field(None, ge=-(10**15), le=10**15, description="Total points it may give")
    per_member_cap_points: int | None = Field(None, ge=-(10**9), le=10**9, description="Points one member may get")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [COFFEE_X2, AVERAGE_CHECK_OFFER]})

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if isinstance(self.audience, Audience):
            data["audience"] = self.audience.model_dump(exclude_none=True)
            if self.audience.members is not None:
                data["audience"]["members"] = [m.as_ref() for m in self.audience.members]
        return data


_VIEW_EXAMPLE: dict[str, Any] = {
    "id": "coffee-x2-november",
    "kind": "campaign",
    "name": "x2 points on coffee in November",
    "revision": 1,
    "definition": COFFEE_X2,
    "starts_at": "2026-10-31T21:00:00+00:00",
    "ends_at": "2026-11-30T21:00:00+00:00",
    "points_given": 12500,
    "members_rewarded": 340,
    "budget_points": 1000000,
    "budget_left": 987500,
    "created_at": "2026-10-20T09:00:00+00:00",
    "updated_at": "2026-10-20T09:00:00+00:00",
}


class CampaignView(BaseModel):
    id: str
    kind: Literal["campaign", "offer"]
    name: str
    revision: int = Field(description="Every change makes a new revision; ledger entries name the one that gave them")
    definition: dict[str, Any] = Field(description="As given; a list audience is kept as its count")
    starts_at: Instant
    ends_at: Instant | None
    points_given: int = Field(description="Points its ledger entries gave, over its life")
    members_rewarded: int
    budget_points: int | None
    budget_left: int | None
    members_listed: int | None = None
    created_at: Instant
    updated_at: Instant

    model_config = ConfigDict(json_schema_extra={"examples": [_VIEW_EXAMPLE]})


class CampaignList(BaseModel):
    campaigns: list[CampaignView]

    model_config = ConfigDict(json_schema_extra={"examples": [{"campaigns": [_VIEW_EXAMPLE]}]})


class Revision(BaseModel):
    revision: int
    definition: dict[str, Any]
    changed_at: Instant


class RevisionList(BaseModel):
    revisions: list[Revision]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"revisions": [{"revision": 1, "definition": COFFEE_X2, "changed_at": "2026-10-20T09:00:00+00:00"}]}
            ]
        }
    )


class MemberOffer(BaseModel):
    id: str
    name: str
    description: str | None
    benefit: str = Field(description="What the offer gives, in words")
    valid_from: Instant
    valid_until: Instant | None
    revision: int


class MemberOffers(BaseModel):
    member_id: int
    offers: list[MemberOffer]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 42,
                    "offers": [
                        {
                            "id": "check-800-to-1000",
                            "name": "10% instead of 5% on orders from 1,000 ₽",
                            "description": "For guests who usually spend about 800 ₽",
                            "benefit": "10% of the eligible amount",
                            "valid_from": "2026-11-01T00:00:00+03:00",
                            "valid_until": "2027-01-01T00:00:00+03:00",
                            "revision": 1,
                        }
                    ],
                }
            ]
        }
    )
