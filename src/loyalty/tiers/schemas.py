"""Tiers: a member's tier, its privileges, the progress to the next one and the tier history."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loyalty.http.schemas import Instant


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
