"""Members: registration and profile, consents."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.http.schemas import Day, Identifier, Instant, InstantOrDate, Strict
from loyalty.referrals.schemas import ReferralCode


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
