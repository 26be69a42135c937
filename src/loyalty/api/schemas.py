"""The HTTP contract: request and response bodies. Money is a decimal string in the program's currency
("1000.50"), never a JSON number; points are integers; instants are ISO 8601 with an offset, or a bare date (a day
in the program's time zone) where the field says so."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from loyalty.domain import limits
from loyalty.domain.identifiers import ID_PATTERN, ID_RULE, id_problem


def _money_text(value: Any) -> Any:
    """Money travels as text, so that no client's float rounds it; say so to the caller who sends a number."""
    if isinstance(value, str):
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    raise PydanticCustomError(
        "money_type", 'must be a decimal string such as "1000.50"' + (", not a JSON number" if number else "")
    )


Money = Annotated[
    str,
    BeforeValidator(_money_text),
    Field(
        pattern=r"^\d{1,13}(\.\d{1,4})?$",
        description='A decimal string in major units, e.g. "1000.50"; never a JSON number.',
        examples=["1000.00"],
        json_schema_extra={"format": "decimal"},
    ),
]
Instant = Annotated[
    str,
    Field(
        description="ISO 8601 date-time with an offset",
        examples=["2026-11-23T12:00:00+03:00"],
        json_schema_extra={"format": "date-time"},
    ),
]
Day = Annotated[
    str, Field(description="A date YYYY-MM-DD", examples=["1990-05-17"], json_schema_extra={"format": "date"})
]
DATE_OR_DATE_TIME = {"anyOf": [{"format": "date-time"}, {"format": "date"}]}
# What a caller may send for an instant: a date-time with its offset, or a bare date, a day in the program's time
# zone (see the README); a date-time without an offset is refused.
InstantOrDate = Annotated[
    str,
    Field(
        description="ISO 8601 date-time with an offset, or a date YYYY-MM-DD (a day in the program's time zone)",
        examples=["2026-11-23T12:00:00+03:00"],
        json_schema_extra=DATE_OR_DATE_TIME,
    ),
]
Points = Annotated[int, Field(ge=0, le=10**12, description="Whole points")]
Key = Annotated[str, Field(min_length=1, max_length=limits.KEY, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/#-]*$")]


def url_safe(what: str) -> BeforeValidator:
    """Refuses, saying why, an id that could not be sent back in a URL path (`/v1/orders/{order_id}`)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and (problem := id_problem(value, what)) is not None:
            raise ValueError(problem)
        return value

    return BeforeValidator(check)


OrderKey = Annotated[
    str,
    Field(min_length=1, max_length=limits.KEY, pattern=ID_PATTERN, description="Your id of the order: " + ID_RULE),
    url_safe("order id"),
]
ReturnKey = Annotated[str, Field(min_length=1, max_length=limits.KEY, pattern=ID_PATTERN), url_safe("return id")]
Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER)]
Sku = Annotated[str, Field(min_length=1, max_length=limits.SKU)]


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


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so are values of another JSON type — "100" or 100.0 for an
    integer, 1 or "yes" for a boolean — rather than converted (strict mode; subclasses' configs merge into it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it here, naming the field, rather than fail in the database.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


ReferralCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.REFERRAL_CODE_TYPED,
        description="A member's referral code; case, spaces and dashes do not matter",
        examples=["K7QM2XHD"],
    ),
]


class MemberRef(Strict):
    """Exactly one way to name the member."""

    member_id: int | None = Field(None, ge=1, le=10**18)
    phone: Identifier | None = None
    email: Identifier | None = None
    card: Identifier | None = None
    external_id: Identifier | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"phone": "+79123456789"}]})

    def as_ref(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class OrderLine(Strict):
    line_id: Key | None = Field(None, description="Your id of the line, used by returns (default: 1, 2, ...)")
    sku: Sku
    category: Annotated[str, Field(max_length=limits.CATEGORY)] | None = None
    quantity: int = Field(1, ge=1, le=1_000_000)
    price: Money = Field(description="Unit price: a decimal string, never a JSON number")
    discount: Money | None = Field(None, description="Discount off the whole line")


ORDER_EXAMPLE: dict[str, Any] = {
    "order_id": "A-1001",
    "member": {"phone": "+79123456789"},
    "occurred_at": "2026-11-23T12:00:00+03:00",
    "points": 300,
    "lines": [
        {"line_id": "1", "sku": "coat-42", "category": "clothes", "quantity": 1, "price": "8000.00"},
        {"line_id": "2", "sku": "scarf", "category": "clothes", "quantity": 2, "price": "1000.00"},
    ],
    "channel": "web",
    "store": "online",
}


class Order(Strict):
    order_id: OrderKey
    member: MemberRef | None = Field(None, description="Absent for a non-member's order")
    occurred_at: InstantOrDate | None = Field(None, description="When the purchase happened (default: now)")
    points: Points = Field(0, description="Points the member wants to pay with")
    lines: list[OrderLine] = Field(min_length=1, max_length=1000)
    discount: Money | None = Field(None, description="An order-wide discount, spread over the lines")
    channel: Annotated[str, Field(max_length=limits.CHANNEL)] | None = None
    store: Annotated[str, Field(max_length=limits.STORE)] | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ORDER_EXAMPLE]})

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if self.member is not None:
            data["member"] = self.member.as_ref()
        return data


CART_EXAMPLE: dict[str, Any] = {k: v for k, v in ORDER_EXAMPLE.items() if k != "order_id"}


class Cart(Order):
    """An order to calculate: it changes nothing, so it needs no id."""

    # Narrowing the inherited field keeps every other field, and its place in the schema, shared with Order.
    order_id: OrderKey | None = Field(  # type: ignore[assignment]
        None, description="Optional: with it, the points a reservation of this order holds count as available"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [CART_EXAMPLE]},
    )


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


class ActionEvent(Strict):
    type: Annotated[str, Field(pattern=limits.id_pattern(limits.ACTION_NAME), examples=["review"])]
    event_id: Key = Field(description="Your id of the event; a retry with the same id grants nothing more")
    member: MemberRef
    occurred_at: InstantOrDate | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "review",
                    "event_id": "review-77812",
                    "member": {"member_id": 1},
                    "occurred_at": "2026-11-23T12:00:00+03:00",
                }
            ]
        },
    )


class ProductViewed(Strict):
    member: MemberRef
    sku: Sku
    occurred_at: InstantOrDate | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"member": {"member_id": 1}, "sku": "coat-42", "occurred_at": "2026-11-23T12:00:00+03:00"}]
        },
    )


class ViewRecorded(BaseModel):
    member_id: int
    sku: str
    viewed_at: Instant = Field(description="The latest view of the product")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"member_id": 1, "sku": "coat-42", "viewed_at": "2026-11-23T09:00:00+00:00"}]}
    )


class ActionResult(BaseModel):
    member_id: int
    action: str
    event_id: str
    points: int
    entry_no: int
    program_version: int
    available_at: Instant
    expires_at: Instant | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 1,
                    "action": "review",
                    "event_id": "review-77812",
                    "points": 50,
                    "entry_no": 5,
                    "program_version": 1,
                    "available_at": "2026-11-23T09:00:00+00:00",
                    "expires_at": "2027-11-23T09:00:00+00:00",
                }
            ]
        }
    )


class ProgramDocument(Strict):
    document: dict[str, Any] = Field(description="The program document (see the README)")
    effective_from: InstantOrDate | None = Field(
        None,
        description="When the version takes effect (default: now): a date (2026-12-01) is the start of that day in "
        "the program's time zone; a date-time needs its offset",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "document": {
                        "name": "Base program",
                        "currency": "RUB",
                        "timezone": "Europe/Moscow",
                        "earning": {"pending_days": 14, "rules": [{"id": "base", "percent": 5}]},
                        "redemption": {"min_check": "1000", "max_share_percent": 99, "earn_or_spend": True},
                        "expiry": {"after_days": 365},
                        "actions": {"registration": {"points": 500}},
                    },
                    "effective_from": "2026-12-01T00:00:00+03:00",
                }
            ]
        },
    )


class ValidationResult(BaseModel):
    valid: Literal[True]
    name: str
    rules: int
    actions: list[str]
    action_caps: dict[str, str] = Field(
        description="How often each action earns: an action without a cap earns once per member's lifetime; "
        "`cap: unlimited` has none"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "valid": True,
                    "name": "Base program",
                    "rules": 1,
                    "actions": ["registration", "review"],
                    "action_caps": {
                        "registration": "once per lifetime (the default when no cap is given)",
                        "review": "at most 3 times per month",
                    },
                }
            ]
        }
    )


class ProgramVersion(BaseModel):
    version: int
    effective_from: Instant
    published_at: Instant | None = None
    name: str | None = None
    checksum: str | None = None
    document: dict[str, Any] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": 2,
                    "effective_from": "2026-12-01T00:00:00+03:00",
                    "published_at": "2026-11-23T09:00:00+00:00",
                    "name": "Base program",
                    "checksum": "9f2c...",
                    "document": None,
                }
            ]
        }
    )


class JobRequest(Strict):
    as_of: InstantOrDate | None = Field(
        None, description="Run as of this instant, or of the end of this date in the program's time zone (default: now)"
    )

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-11-30"}]})


class JobRun(BaseModel):
    """What every job answers: which job ran and the instant it ran as of."""

    as_of: Instant = Field(description="The instant the job ran as of")


def _job_example(job: str, **counts: int) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [{"job": job, "as_of": "2026-11-30T20:59:59+00:00", **counts}]})


class ActivateResult(JobRun):
    job: Literal["activate"]
    lots: int = Field(description="Lots whose pending period ended, now recorded as activated")
    points: int = Field(description="Points in those lots")

    model_config = _job_example("activate", lots=42, points=12500)


class ExpireResult(JobRun):
    job: Literal["expire"]
    accounts: int = Field(description="Accounts with points written off")
    points: int = Field(description="Points written off")

    model_config = _job_example("expire", accounts=31, points=12500)


class TiersResult(JobRun):
    job: Literal["tiers"]
    members: int = Field(description="Members re-evaluated")
    upgraded: int
    downgraded: int

    model_config = _job_example("tiers", members=2357, upgraded=12, downgraded=3)


class BirthdaysResult(JobRun):
    job: Literal["birthdays"]
    members: int = Field(description="Members who got the birthday gift")
    points: int = Field(description="Points given")

    model_config = _job_example("birthdays", members=7, points=3500)


class ReferralsResult(JobRun):
    job: Literal["referrals"]
    rewarded: int = Field(description="Referrals whose referrer was rewarded")

    model_config = _job_example("referrals", rewarded=4)


class WinBackResult(JobRun):
    job: Literal["win-back"]
    granted: int = Field(description="Members who got win-back points")
    points: int = Field(description="Points given")

    model_config = _job_example("win-back", granted=12, points=6000)


class AuditResult(BaseModel):
    ok: bool
    violations: list[str]
    checked: dict[str, int]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "violations": [],
                    "checked": {"accounts": 2357, "entries": 10017, "lots": 5624, "orders": 6919},
                }
            ]
        }
    )


class FieldError(BaseModel):
    path: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = []
    request_id: str | None = None


SegmentId = Annotated[
    str,
    Field(pattern=limits.id_pattern(limits.SEGMENT_ID), description="Lower-case letters, digits, '_', '-', '.'"),
]
SEGMENT_CONDITIONS_EXAMPLE: list[JsonValue] = [
    {"average_check": {"min": "700", "max": "900"}},
    {"consent": {"sms": True}},
]


class NewSegment(Strict):
    segment_id: SegmentId
    name: Annotated[str, Field(min_length=1, max_length=limits.NAME)]
    kind: Literal["rule", "static"] = Field("rule", description="rule: by conditions; static: an uploaded list")
    conditions: list[dict[str, Any]] | None = Field(
        None,
        max_length=100,
        description="A rule segment's conditions, all of which must hold; each maps one condition (recency_score, "
        "frequency_score, monetary_score, days_since_last_purchase, purchase_count, total_spend, average_check, "
        "tier, gender, age, city, birthday_month, consent, attributes) to its argument. See the README.",
    )
    members: list[MemberRef] | None = Field(None, max_length=100_000, description="A static segment's members")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "segment_id": "check-800",
                    "name": "Usually buy for about 800 ₽",
                    "conditions": SEGMENT_CONDITIONS_EXAMPLE,
                },
                {"segment_id": "vip-list", "name": "VIP guests", "kind": "static", "members": [{"member_id": 1}]},
            ]
        },
    )

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if self.members is not None:
            data["members"] = [m.as_ref() for m in self.members]
        return data


class SegmentChange(Strict):
    name: Annotated[str, Field(min_length=1, max_length=limits.NAME)] | None = Field(
        None, description="Default: unchanged"
    )
    kind: Literal["rule", "static"] | None = Field(None, description="A segment keeps its kind")
    conditions: list[dict[str, Any]] | None = Field(None, max_length=100, description="A rule segment's new conditions")
    members: list[MemberRef] | None = Field(None, max_length=100_000, description="A static segment's new members")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Usually buy for about 800 ₽", "conditions": SEGMENT_CONDITIONS_EXAMPLE}]
        },
    )

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if self.members is not None:
            data["members"] = [m.as_ref() for m in self.members]
        return data


SEGMENT_EXAMPLE: dict[str, Any] = {
    "segment_id": "check-800",
    "name": "Usually buy for about 800 ₽",
    "kind": "rule",
    "conditions": SEGMENT_CONDITIONS_EXAMPLE,
    "member_count": 412,
    "computed_at": "2026-11-23T09:00:00+00:00",
    "created_at": "2026-11-20T09:00:00+00:00",
    "updated_at": "2026-11-20T09:00:00+00:00",
}


class Segment(BaseModel):
    segment_id: str
    name: str
    kind: Literal["rule", "static"]
    conditions: list[dict[str, Any]] | None
    member_count: int
    computed_at: Instant | None = Field(description="The instant the members were computed as of")
    created_at: Instant
    updated_at: Instant

    model_config = ConfigDict(json_schema_extra={"examples": [SEGMENT_EXAMPLE]})


class SegmentList(BaseModel):
    segments: list[Segment]

    model_config = ConfigDict(json_schema_extra={"examples": [{"segments": [SEGMENT_EXAMPLE]}]})


class SegmentMember(BaseModel):
    member_id: int


class SegmentMemberPage(BaseModel):
    segment_id: str
    members: list[SegmentMember]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page; null on the last")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"segment_id": "check-800", "members": [{"member_id": 1}, {"member_id": 7}], "next_cursor": "7"}
            ]
        }
    )


class RecomputeRequest(Strict):
    as_of: InstantOrDate | None = Field(
        None,
        description="Compute as of this instant, or of the end of this date in the program's time zone (default: now)",
    )

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-11-30T23:59:59+03:00"}]})


class RecomputeResult(BaseModel):
    as_of: Instant
    segments: int = Field(description="Rule segments recomputed")
    members: int = Field(description="Memberships written")
    skipped: int = Field(description="Segments changed meanwhile (their change recomputed them)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"as_of": "2026-11-30T20:59:59+00:00", "segments": 10, "members": 5120, "skipped": 0}]
        }
    )


class MemberSegments(BaseModel):
    member_id: int
    segments: list[str] = Field(description="The ids of the segments the member is in, as last computed")

    model_config = ConfigDict(json_schema_extra={"examples": [{"member_id": 1, "segments": ["check-800", "vip-list"]}]})
