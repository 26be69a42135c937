"""Referrals: the code a new member gives, a member's referral and the members a member referred."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.http.schemas import Instant, Strict

ReferralCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.REFERRAL_CODE_TYPED,
        description="A member's referral code; case, spaces and dashes do not matter",
        examples=["K7QM2XHD"],
    ),
]


class ReferralAttach(Strict):
    code: ReferralCode

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "K7QM2XHD"}]})


class Referral(BaseModel):
    """A member's referral, seen from the member who was referred."""

    member_id: int
    referrer_id: int
    code: str
    status: Literal["pending", "rewarded", "void"]
    program_version: int = Field(description="The version whose referral terms apply")
    created_at: Instant
    new_member_points: int = Field(description="Points the referred member got")
    settled_at: Instant | None = Field(description="When the referral became rewarded or void")
    order_id: str | None = Field(description="The referred member's order that qualified")
    referrer_points: int = Field(description="Points the referrer got")
    reason: str | None = Field(description='Why a referral is void, e.g. "cap reached"')

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 2,
                    "referrer_id": 1,
                    "code": "K7QM2XHD",
                    "status": "pending",
                    "program_version": 1,
                    "created_at": "2026-11-23T09:00:00+00:00",
                    "new_member_points": 300,
                    "settled_at": None,
                    "order_id": None,
                    "referrer_points": 0,
                    "reason": None,
                }
            ]
        }
    )


class ReferredMember(BaseModel):
    member_id: int
    status: Literal["pending", "rewarded", "void"]
    created_at: Instant
    settled_at: Instant | None
    order_id: str | None
    points: int = Field(description="Points this referral gave the referrer")
    reason: str | None


class ReferralList(BaseModel):
    member_id: int
    counts: dict[str, int] = Field(description="Referrals by status: pending, rewarded, void")
    points: int = Field(description="Points the member got for referrals in all")
    referrals: list[ReferredMember]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 1,
                    "counts": {"pending": 1, "rewarded": 1, "void": 0},
                    "points": 500,
                    "referrals": [
                        {
                            "member_id": 2,
                            "status": "rewarded",
                            "created_at": "2026-11-01T09:00:00+00:00",
                            "settled_at": "2026-11-20T00:00:00+00:00",
                            "order_id": "A-2001",
                            "points": 500,
                            "reason": None,
                        },
                        {
                            "member_id": 3,
                            "status": "pending",
                            "created_at": "2026-11-23T09:00:00+00:00",
                            "settled_at": None,
                            "order_id": None,
                            "points": 0,
                            "reason": None,
                        },
                    ],
                }
            ]
        }
    )
