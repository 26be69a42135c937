"""A member's points: ledger entries, the balance, and an operator's adjustment."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.http.schemas import Instant, InstantOrDate, Strict

ENTRY_EXAMPLE: dict[str, Any] = {
    "entry_no": 4,
    "kind": "earn",
    "points": 500,
    "occurred_at": "2026-11-23T09:00:00+00:00",
    "program_version": 1,
    "rule": "base",
    "order_id": "A-1001",
    "return_id": None,
    "event_id": None,
    "operator": None,
    "reason": None,
}


class Entry(BaseModel):
    entry_no: int
    kind: str
    points: int
    occurred_at: Instant
    program_version: int | None
    rule: str | None
    order_id: str | None
    return_id: str | None
    event_id: str | None
    operator: str | None
    reason: str | None
    details: dict[str, Any] | None = Field(
        None, description="More on what produced the entry, such as the campaign revision that gave the points"
    )


class Expiry(BaseModel):
    expires_at: Instant
    points: int


class RestrictedPoints(BaseModel):
    points: int = Field(description="Spendable points of this kind")
    max_share_percent: str = Field(description="The most of an order's eligible amount these points can pay, in %")
    expires_at: Instant | None = Field(description="When they burn")


class Balance(BaseModel):
    member_id: int
    balance: int = Field(description="All points: available + pending + held + not yet written off − debt")
    available: int = Field(description="Spendable now")
    pending: int
    held: int = Field(description="Held by live reservations")
    expired_not_yet_written_off: int
    debt: int
    next_expiries: list[Expiry]
    restricted: list[RestrictedPoints] = Field(
        default_factory=list,
        description="Spendable points with a limit of their own (win-back points), part of the balance: each group "
        "can pay at most its share of an order, whatever the program allows; soonest-expiring first",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 1,
                    "balance": 1500,
                    "available": 1000,
                    "pending": 500,
                    "held": 0,
                    "expired_not_yet_written_off": 0,
                    "debt": 0,
                    "next_expiries": [
                        {"expires_at": "2026-12-07T09:00:00+00:00", "points": 500},
                        {"expires_at": "2027-11-23T09:00:00+00:00", "points": 1000},
                    ],
                    "restricted": [
                        {"points": 500, "max_share_percent": "50", "expires_at": "2026-12-07T09:00:00+00:00"}
                    ],
                }
            ]
        }
    )


class EntryPage(BaseModel):
    entries: list[Entry]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null at the end")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entries": [ENTRY_EXAMPLE],
                    "next_cursor": "4",
                }
            ]
        }
    )


class Adjustment(Strict):
    points: int = Field(ge=-(10**12), le=10**12, description="Positive adds, negative removes; never zero")
    operator: Annotated[str, Field(min_length=1, max_length=limits.OPERATOR)]
    reason: Annotated[str, Field(min_length=1, max_length=limits.REASON)]
    occurred_at: InstantOrDate | None = Field(
        None, description="When the adjustment happened (default: now); as an order's occurred_at"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"points": 200, "operator": "support:olga", "reason": "compensation for a late delivery, ticket 5512"}
            ]
        },
    )


class AdjustmentResult(BaseModel):
    member_id: int
    entry_no: int
    points: int
    balance: int

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"member_id": 1, "entry_no": 7, "points": 200, "balance": 1200}]}
    )
