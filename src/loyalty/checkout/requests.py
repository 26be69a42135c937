"""Order requests as the checkout sends them — over HTTP, through the Python API, from an import — read once, by
one model (`Order`, or `Cart` for a quote), into the domain's `OrderRequest` before anything is read or written.

The model checks what needs no program (types, lengths, ids, money as text, the instant's form, one way to name
the member) and reports every problem at once; `Order.request` places the instant in time (a bare date in the
program's time zone, asked only then; not in the future); `OrderRequest.cart` checks what depends on the program
in force (the currency's decimals, amounts that must fit the ledger)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, NamedTuple

from pydantic import ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from loyalty.checkout import cart as pricing
from loyalty.checkout.quote import Quote
from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.fields import (
    Key,
    MemberRef,
    Money,
    OrderKey,
    Points,
    ReadInstantOrDate,
    Sku,
    Strict,
    field_problems,
    refuse_nul,
)
from loyalty.core.instants import Zone, happened_at
from loyalty.core.money import MAX_MINOR_DIGITS, MONEY_DIGITS, format_money, minor_units, parse_decimal
from loyalty.program.model import Program, ProgramVersion

MAX_LINES = 1000
_ZERO = Decimal(0)


class OrderLine(Strict):
    line_id: Key | None = Field(None, description="Your id of the line, used by returns (default: 1, 2, ...)")
    sku: Sku
    category: Annotated[str, Field(max_length=limits.CATEGORY)] | None = None
    quantity: int = Field(1, ge=1, le=1_000_000)
    price: Money = Field(description="Unit price: a decimal string, never a JSON number")
    discount: Money | None = Field(None, description="Discount off the whole line")

    # Strict checks every field for NUL; of a line's, only the free texts need it (the patterns of ids and amounts
    # refuse it), and an order may have a thousand lines.
    @field_validator("sku", "category", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


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
    occurred_at: ReadInstantOrDate | None = Field(None, description="When the purchase happened (default: now)")
    points: Points = Field(0, description="Points the member wants to pay with")
    lines: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    discount: Money | None = Field(None, description="An order-wide discount, spread over the lines")
    channel: Annotated[str, Field(max_length=limits.CHANNEL)] | None = None
    store: Annotated[str, Field(max_length=limits.STORE)] | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ORDER_EXAMPLE]})

    @field_validator("member")
    @classmethod
    def _one_way(cls, member: MemberRef | None) -> MemberRef | None:
        if member is not None and len(member.as_ref()) != 1:
            raise PydanticCustomError(
                "member", "must name the member by one of member_id, phone, email, card, external_id"
            )
        return member

    def as_dict(self) -> dict[str, Any]:
        """The body as sent, with the defaults filled in: what an Idempotency-Key's fingerprint is taken of."""
        data = self.model_dump(exclude_none=True)
        if self.member is not None:
            data["member"] = self.member.as_ref()
        return data

    def request(self, now: datetime, zone: Zone = UTC) -> OrderRequest:
        """The domain's request. `now` is when it arrived (the default `occurred_at`, and the bound on it); `zone`
        is the program's time zone (or a function giving it, asked only for a bare date). InvalidInput when the
        order happened in the future."""
        given = self.occurred_at
        return OrderRequest(
            self.order_id or "",
            self.member.as_ref() if self.member is not None else None,
            now if given is None else happened_at(given.value, "occurred_at", now, zone=zone),
            tuple(
                LineInput(
                    line.line_id if line.line_id is not None else str(i),
                    line.sku.strip(),
                    _text(line.category),
                    line.quantity,
                    Decimal(line.price),
                    Decimal(line.discount) if line.discount else _ZERO,
                )
                for i, line in enumerate(self.lines, start=1)
            ),
            self.points,
            _text(self.channel),
            _text(self.store),
            Decimal(self.discount) if self.discount else _ZERO,
            given is not None,
        )


def _text(value: str | None) -> str | None:
    """An optional text as the order keeps it: absent when not given or empty, else without surrounding spaces."""
    return value.strip() if value else None


CART_EXAMPLE: dict[str, Any] = {k: v for k, v in ORDER_EXAMPLE.items() if k != "order_id"}


class Cart(Order):
    """An order to calculate: it changes nothing, so it needs no id."""

    # Narrowing the inherited field keeps every other field, and its place in the schema, shared with Order.
    order_id: OrderKey | None = Field(  # type: ignore[assignment]
        None, description="Optional: with it, the points a reservation of this order holds count as available"
    )

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CART_EXAMPLE]})


def parse_order(data: object, now: datetime, *, zone: Zone = UTC, quote_only: bool = False) -> OrderRequest:
    """An order request from a JSON-like mapping, read by the model the HTTP API reads bodies with; every bad
    field is reported at once, nothing is read. `zone` is the program's time zone, for an `occurred_at` given as
    a bare date. A cart to quote (`quote_only`), which changes nothing, needs no `order_id`."""
    try:
        order = (Cart if quote_only else Order).model_validate(data)
    except ValidationError as error:
        raise InvalidInput(field_problems(error.errors())) from None
    return order.request(now, zone)


class LineInput(NamedTuple):
    """One line as the order says it (a named tuple: an order of a thousand lines is read on every request)."""

    line_id: str
    sku: str
    category: str | None
    quantity: int
    price: Decimal  # in major units, as written; the program's currency says how many decimals it may have
    discount: Decimal


@dataclass(frozen=True)
class OrderRequest:
    order_key: str  # "" for a cart only calculated, which needs no id
    member: dict[str, Any] | None
    occurred_at: datetime
    lines: tuple[LineInput, ...]
    points: int = 0
    channel: str | None = None
    store: str | None = None
    discount: Decimal = _ZERO
    occurred_at_given: bool = True  # False: the body had no occurred_at and `occurred_at` is the time it arrived

    def cart(self, program: Program) -> pricing.Cart:
        """The cart in the program's minor units; money that does not fit them is named by its path."""
        problems: list[FieldProblem] = []
        lines = []
        # Every amount, a line's and the order's, must fit the database and the API's Money: quantity × price can
        # exceed both even when each of them is in range.
        limit = 10 ** min(MAX_MINOR_DIGITS, MONEY_DIGITS + program.exponent)
        too_large = f"must be less than {format_money(limit, program.exponent)} {program.currency}"
        for i, line in enumerate(self.lines):
            try:
                price = minor_units(line.price, program.exponent, f"lines[{i}].price")
                discount = minor_units(line.discount, program.exponent, f"lines[{i}].discount")
                lines.append(pricing.CartLine(line.line_id, line.sku, line.category, line.quantity, price, discount))
                if line.quantity * price >= limit:
                    problems.append(FieldProblem(f"lines[{i}]", f"the line amount (quantity × price) {too_large}"))
            except InvalidInput as error:
                problems.extend(error.problems)
        if not problems and sum(line.quantity * line.unit_price for line in lines) >= limit:
            problems.append(FieldProblem("lines", f"the order total {too_large}"))
        try:
            discount = minor_units(self.discount, program.exponent, "discount")
        except InvalidInput as error:
            problems.extend(error.problems)
        if problems:
            raise InvalidInput(problems)
        cart = pricing.Cart(tuple(lines), self.occurred_at, self.channel, self.store, discount)
        cart.validate()
        return cart

    def digest(self, member_id: int | None, cart: pricing.Cart) -> str:
        """A fingerprint of what the order says, to tell a retry from a different order under the same id."""
        body = [
            self.order_key,
            member_id,
            # A body without occurred_at means "now": its retry, a moment later, must still be the same order.
            self.occurred_at.astimezone(UTC).isoformat() if self.occurred_at_given else None,
            self.points,
            self.channel,
            self.store,
            cart.discount,
            [[x.line_id, x.sku, x.category, x.quantity, x.unit_price, x.discount] for x in cart.lines],
        ]
        return hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        """The request as its order keeps it, for `from_json` to confirm a reservation as it was reserved."""
        return {
            "member": self.member,
            "occurred_at": self.occurred_at.isoformat(),
            "occurred_at_given": self.occurred_at_given,
            "points": self.points,
            "channel": self.channel,
            "store": self.store,
            "discount": str(self.discount),
            "lines": [
                {
                    "line_id": x.line_id,
                    "sku": x.sku,
                    "category": x.category,
                    "quantity": x.quantity,
                    "price": str(x.price),
                    "discount": str(x.discount),
                }
                for x in self.lines
            ],
        }

    @classmethod
    def from_json(cls, order_key: str, data: Mapping[str, Any]) -> OrderRequest:
        """The request `as_json` kept, read back without checking it again. Amounts go through `parse_decimal`,
        which also reads those kept before the model read every order (written as the Python API was given them,
        such as "1 000.00")."""
        return cls(
            order_key,
            data["member"],
            datetime.fromisoformat(data["occurred_at"]),
            tuple(
                LineInput(
                    x["line_id"],
                    x["sku"],
                    x["category"],
                    x["quantity"],
                    parse_decimal(x["price"], f"lines[{i}].price"),
                    parse_decimal(x["discount"], f"lines[{i}].discount"),
                )
                for i, x in enumerate(data["lines"])
            ),
            data["points"],
            data["channel"],
            data["store"],
            parse_decimal(data["discount"], "discount"),
            bool(data.get("occurred_at_given", True)),  # orders kept before the flag existed had their instant given
        )


def quote_result(
    order_key: str | None,
    status: str,
    member_id: int | None,
    version: ProgramVersion,
    q: Quote,
    occurred_at: datetime,
) -> dict[str, Any]:
    """The JSON-ready result of a calculate or confirm; a confirm stores it and returns it to every retry."""
    program = version.program

    def money(minor: int) -> str:
        return format_money(minor, program.exponent)

    return {
        "order_id": order_key,
        "status": status,
        "member_id": member_id,
        "occurred_at": occurred_at.isoformat(),
        "program_version": version.number,
        "currency": program.currency,
        "total": money(q.total),
        "max_points": q.max_points,
        "points_applied": q.points_applied,
        "points_value": money(q.points_money),
        "amount_to_pay": money(q.amount_to_pay),
        "points_to_earn": q.points_to_earn,
        "points_available_at": q.available_at.isoformat() if q.points_to_earn else None,
        "points_expire_at": q.expires_at.isoformat() if q.points_to_earn and q.expires_at else None,
        "lines": [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "category": line.category,
                "quantity": line.quantity,
                "amount": money(line.amount),
                "points_applied": line.points_applied,
                "amount_to_pay": money(line.amount_to_pay),
                "points_to_earn": line.points_earned,
                "earned_by": [{"rule": p.rule_id, "points": p.points} for p in line.earned_by],
            }
            for line in q.lines
        ],
        "explanation": [
            {"source": r.source, "outcome": r.outcome, "message": r.message, "points": r.points} for r in q.reasons
        ],
    }
