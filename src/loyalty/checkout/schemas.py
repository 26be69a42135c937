"""Orders at the checkout: carts to quote, reservations, confirmed orders, returns, and what each answers. The
order bodies are the models every door reads orders with (`checkout.requests`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.checkout.requests import ORDER_EXAMPLE
from loyalty.checkout.requests import Cart as Cart
from loyalty.checkout.requests import Order as Order
from loyalty.checkout.requests import OrderLine as OrderLine
from loyalty.http.schemas import Instant, Key, Money, ReturnKey, Strict
from loyalty.ledger.schemas import ENTRY_EXAMPLE, Entry


class Reservation(Order):
    hold_seconds: int = Field(900, ge=1, le=7 * 24 * 3600, description="How long the points are held")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{**ORDER_EXAMPLE, "hold_seconds": 600}]})


class EarnedBy(BaseModel):
    rule: str
    points: int


class QuoteLine(BaseModel):
    line_id: str
    sku: str
    category: str | None
    quantity: int
    amount: Money
    points_applied: int
    amount_to_pay: Money
    points_to_earn: int
    earned_by: list[EarnedBy]


class Reason(BaseModel):
    source: str = Field(description="The rule or policy, e.g. base or redemption.min_check")
    outcome: Literal["applied", "blocked", "limited"]
    message: str
    points: int


class OrderResult(BaseModel):
    order_id: str | None = Field(description="Null for a quote of a cart sent without an id")
    status: Literal["quote", "reserved", "confirmed", "released", "cancelled"]
    member_id: int | None
    occurred_at: Instant
    program_version: int
    currency: str
    total: Money
    max_points: int
    points_applied: int
    points_value: Money
    amount_to_pay: Money
    points_to_earn: int
    points_available_at: Instant | None
    points_expire_at: Instant | None
    lines: list[QuoteLine]
    explanation: list[Reason]
    balance_available: int | None = None
    hold_expires_at: Instant | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "A-1001",
                    "status": "confirmed",
                    "member_id": 1,
                    "occurred_at": "2026-11-23T09:00:00+00:00",
                    "program_version": 1,
                    "currency": "RUB",
                    "total": "10000.00",
                    "max_points": 9900,
                    "points_applied": 0,
                    "points_value": "0.00",
                    "amount_to_pay": "10000.00",
                    "points_to_earn": 500,
                    "points_available_at": "2026-12-07T09:00:00+00:00",
                    "points_expire_at": "2027-11-23T09:00:00+00:00",
                    "lines": [
                        {
                            "line_id": "1",
                            "sku": "coat-42",
                            "category": "clothes",
                            "quantity": 1,
                            "amount": "10000.00",
                            "points_applied": 0,
                            "amount_to_pay": "10000.00",
                            "points_to_earn": 500,
                            "earned_by": [{"rule": "base", "points": 500}],
                        }
                    ],
                    "explanation": [
                        {
                            "source": "base",
                            "outcome": "applied",
                            "message": "5% cashback: 5% of the eligible amount of 10000.00 RUB",
                            "points": 500,
                        }
                    ],
                }
            ]
        }
    )


class Released(BaseModel):
    order_id: str
    status: Literal["released", "cancelled"]
    points_released: int

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"order_id": "A-1001", "status": "released", "points_released": 300}]}
    )


class ReturnLine(Strict):
    line_id: Key
    quantity: int = Field(ge=1, le=1_000_000)


class ReturnRequest(Strict):
    return_id: ReturnKey = Field(
        description="Your id of this return within its order; a retry with the same id returns the first result"
    )
    lines: list[ReturnLine] = Field(min_length=1, max_length=1000)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"return_id": "R-1", "lines": [{"line_id": "2", "quantity": 1}]}]},
    )


class ReturnedLine(BaseModel):
    line_id: str
    quantity: int
    points_taken_back: int
    points_given_back: int
    amount_refunded: Money


class ReturnResult(BaseModel):
    order_id: str
    return_id: str | None = None
    status: str | None = None
    points_taken_back: int = 0
    points_given_back: int = 0
    shortfall: int = Field(0, description="Points that could not be taken back (program setting record_shortfall)")
    balance: int | None = None
    lines: list[ReturnedLine] = []
    points_released: int | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "A-1001",
                    "return_id": "R-1",
                    "points_taken_back": 50,
                    "points_given_back": 0,
                    "shortfall": 0,
                    "balance": 950,
                    "lines": [
                        {
                            "line_id": "2",
                            "quantity": 1,
                            "points_taken_back": 50,
                            "points_given_back": 0,
                            "amount_refunded": "1000.00",
                        }
                    ],
                }
            ]
        }
    )


class OrderDetail(BaseModel):
    order_id: str
    status: str
    member_id: int | None
    result: OrderResult | None
    returned: dict[str, int] = Field(description="Quantity returned so far per line id")
    entries: list[Entry]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "A-1001",
                    "status": "confirmed",
                    "member_id": 1,
                    "result": None,
                    "returned": {"1": 0},
                    "entries": [ENTRY_EXAMPLE],
                }
            ]
        }
    )
