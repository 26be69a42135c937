"""Members: registration and profile, consents, referrals, tiers and member tokens."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.http.schemas import Day, Identifier, Instant, InstantOrDate, Strict

ReferralCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.REFERRAL_CODE_TYPED,
        description="A member's referral code; case, spaces and dashes do not matter",
        examples=["K7QM2XHD"],
    ),
]


class Consents(Strict):
    personal_data: bool | None = None
    email: bool | None = None
    sms: bool | None = None


class NewMember(Strict):
    name: Annotated[str, Field(max_length=limits.NAME)] | None = None
    gender: Literal["female", "male", "other"] | None = None
    birth_date: Day | None = None
    phone: Identifier | None = None
    email: Identifier | None = None
    card: Identifier | None = None
    external_id: Identifier | None = None
    consents: Consents | None = None
    source: Annotated[str, Field(max_length=limits.CONSENT_SOURCE)] | None = Field(
        None, description="Where consents were given"
    )
    referral_code: ReferralCode | None = Field(
        None, description="The code of the member who referred this one: the new member gets the referral bonus"
    )
    registered_at: InstantOrDate | None = Field(
        None, description="When the member registered (default: now); as an order's occurred_at"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Anna",
                    "gender": "female",
                    "birth_date": "1990-05-17",
                    "phone": "+7 912 345-67-89",
                    "email": "anna@example.com",
                    "consents": {"personal_data": True, "email": True, "sms": False},
                    "source": "web-signup",
                    "referral_code": "K7QM2XHD",
                }
            ]
        },
    )


class MemberUpdate(Strict):
    name: Annotated[str, Field(max_length=limits.NAME)] | None = None
    gender: Literal["female", "male", "other"] | None = None
    birth_date: Day | None = None
    consents: Consents | None = None
    source: Annotated[str, Field(max_length=limits.CONSENT_SOURCE)] | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Anna K.", "consents": {"sms": True}, "source": "app-settings"}]},
    )


class Consent(BaseModel):
    granted: bool
    at: Instant
    source: str


class Member(BaseModel):
    member_id: int
    name: str | None
    gender: str | None
    birth_date: Day | None
    registered_at: Instant
    referral_code: str | None = Field(description="The code this member shares to refer others")
    identifiers: dict[str, str]
    consents: dict[str, Consent]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 1,
                    "name": "Anna",
                    "gender": "female",
                    "birth_date": "1990-05-17",
                    "registered_at": "2026-11-23T09:00:00+00:00",
                    "referral_code": "K7QM2XHD",
                    "identifiers": {"phone": "+79123456789"},
                    "consents": {"email": {"granted": True, "at": "2026-11-23T09:00:00+00:00", "source": "web-signup"}},
                }
            ]
        }
    )


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


class TierLevel(BaseModel):
    id: str
    name: str
    multiplier: str
    privileges: list[str] = Field(description="What the shop grants this tier, e.g. free_delivery")


class NextTier(BaseModel):
    id: str
    name: str
    remaining: str | int = Field(description="Money (decimal string) or orders still needed")
    message: str


class TierChange(BaseModel):
    from_: str | None = Field(alias="from")
    to: str
    at: Instant
    reason: str
    qualifying_value: str | int


class TierStatus(BaseModel):
    member_id: int
    tier: TierLevel | None = Field(description="Null when the program has no tiers")
    qualify_by: str | None = None
    qualifying_value: str | int | None = None
    since: Instant | None = None
    kept_until: Instant | None = Field(None, description="The tier is kept at least until then")
    next_tier: NextTier | None = None
    history: list[TierChange]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 1,
                    "tier": {"id": "silver", "name": "Silver", "multiplier": "1", "privileges": []},
                    "qualify_by": "spend",
                    "qualifying_value": "12650.00",
                    "since": None,
                    "kept_until": None,
                    "next_tier": {
                        "id": "gold",
                        "name": "Gold",
                        "remaining": "2350.00",
                        "message": "2350.00 RUB more to Gold",
                    },
                    "history": [],
                }
            ]
        }
    )


class MemberToken(BaseModel):
    token: str
    expires_at: Instant

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"token": "mt_1.1795000000.k3Jx...", "expires_at": "2026-11-23T10:00:00+00:00"}]
        }
    )


class TokenRequest(Strict):
    ttl_seconds: int = Field(default=3600, ge=60, le=30 * 24 * 3600)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ttl_seconds": 3600}]})
