"""Order requests as the checkout sends them, parsed and checked before anything is read or written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loyalty.checkout.cart import Cart, CartLine
from loyalty.checkout.quote import Quote
from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.identifiers import id_problem
from loyalty.core.instants import Zone, parse_happened_at
from loyalty.core.instants import parse_instant as parse_instant  # the doors' parser, still importable from here
from loyalty.core.money import MAX_MINOR_DIGITS, format_money, parse_decimal, parse_money
from loyalty.program.model import Program, ProgramVersion

MAX_LINES = 1000
MONEY_DIGITS = 13  # whole units at most in any amount (the API's Money pattern)


@dataclass(frozen=True)
class LineInput:
    line_id: str
    sku: str
    category: str | None
    quantity: int
    price: object
    discount: object


@dataclass(frozen=True)
class OrderRequest:
    order_key: str  # "" for a cart only calculated, which needs no id
    member: dict[str, Any] | None
    occurred_at: datetime
    lines: tuple[LineInput, ...]
    points: int = 0
    channel: str | None = None
    store: str | None = None
    discount: object = 0
    occurred_at_given: bool = True  # False: the body had no occurred_at and `occurred_at` is the time it arrived

    def cart(self, program: Program) -> Cart:
        """The cart in the program's minor units; malformed money is named by its path."""
        problems: list[FieldProblem] = []
        lines = []
        # Every amount, a line's and the order's, must fit the database and the API's Money: quantity × price can
        # exceed both even when each of them is in range.
        limit = 10 ** min(MAX_MINOR_DIGITS, MONEY_DIGITS + program.exponent)
        too_large = f"must be less than {format_money(limit, program.exponent)} {program.currency}"
        for i, line in enumerate(self.lines):
            try:
                price = parse_money(line.price, program.exponent, f"lines[{i}].price")
                discount = parse_money(line.discount, program.exponent, f"lines[{i}].discount")
                lines.append(CartLine(line.line_id, line.sku, line.category, line.quantity, price, discount))
                if line.quantity * price >= limit:
                    problems.append(FieldProblem(f"lines[{i}]", f"the line amount (quantity × price) {too_large}"))
            except InvalidInput as error:
                problems.extend(error.problems)
        if not problems and sum(line.quantity * line.unit_price for line in lines) >= limit:
            problems.append(FieldProblem("lines", f"the order total {too_large}"))
        try:
            discount = parse_money(self.discount, program.exponent, "discount")
        except InvalidInput as error:
            problems.extend(error.problems)
        if problems:
            raise InvalidInput(problems)
        cart = Cart(tuple(lines), self.occurred_at, self.channel, self.store, discount)
        cart.validate()
        return cart

    def digest(self, member_id: int | None, cart: Cart) -> str:
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


def _text(
    data: dict[str, Any], key: str, path: str, problems: list[FieldProblem], *, required: bool, limit: int
) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            problems.append(FieldProblem(path, "is required"))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(FieldProblem(path, "must be a string"))
        return None
    text = str(value).strip()
    if "\x00" in text:
        problems.append(FieldProblem(path, "must not contain NUL characters"))
    if len(text) > limit:
        problems.append(FieldProblem(path, f"must be at most {limit} characters"))
    return text


def parse_order(
    data: object, now: datetime, *, order_key: str | None = None, zone: Zone = UTC, quote_only: bool = False
) -> OrderRequest:
    """An order request from a JSON-like mapping; every bad field is reported at once, nothing is read. `zone` is
    the program's time zone, for an `occurred_at` given as a bare date. A cart to quote (`quote_only`), which
    changes nothing, needs no `order_id`."""
    if not isinstance(data, dict):
        raise InvalidInput.at("", "the order must be a JSON object")
    problems: list[FieldProblem] = []
    key = order_key or _text(data, "order_id", "order_id", problems, required=not quote_only, limit=limits.KEY) or ""
    if order_key is None and key and (problem := id_problem(key, "order id")) is not None:
        problems.append(FieldProblem("order_id", problem))
    member = data.get("member")
    if member is not None and (not isinstance(member, dict) or len(member) != 1):
        problems.append(
            FieldProblem("member", "must name the member by one of member_id, phone, email, card, external_id")
        )
    occurred_at = now
    if data.get("occurred_at") is not None:
        try:
            occurred_at = parse_happened_at(data["occurred_at"], "occurred_at", now, zone=zone)
        except InvalidInput as error:
            problems.extend(error.problems)
    points = data.get("points", 0)
    if isinstance(points, bool) or not isinstance(points, int):
        problems.append(FieldProblem("points", "must be a whole number of points"))
        points = 0
    elif points < 0:
        problems.append(FieldProblem("points", "must not be negative"))
    raw_lines = data.get("lines")
    lines: list[LineInput] = []
    if not isinstance(raw_lines, list) or not raw_lines:
        problems.append(FieldProblem("lines", "must be a non-empty list of order lines"))
    elif len(raw_lines) > MAX_LINES:
        problems.append(FieldProblem("lines", f"at most {MAX_LINES} lines per order"))
    else:
        for i, raw in enumerate(raw_lines):
            line = _line(raw, i, problems)
            if line is not None:
                lines.append(line)
    channel = _text(data, "channel", "channel", problems, required=False, limit=limits.CHANNEL)
    store = _text(data, "store", "store", problems, required=False, limit=limits.STORE)
    if problems:
        raise InvalidInput(problems)
    return OrderRequest(
        key,
        member,
        occurred_at,
        tuple(lines),
        points,
        channel,
        store,
        data.get("discount") or 0,
        data.get("occurred_at") is not None,
    )


def _line(raw: object, i: int, problems: list[FieldProblem]) -> LineInput | None:
    path = f"lines[{i}]"
    if not isinstance(raw, dict):
        problems.append(FieldProblem(path, "must be an object with sku, quantity and price"))
        return None
    before = len(problems)
    sku = _text(raw, "sku", f"{path}.sku", problems, required=True, limit=limits.SKU)
    category = _text(raw, "category", f"{path}.category", problems, required=False, limit=limits.CATEGORY)
    line_id = _text(raw, "line_id", f"{path}.line_id", problems, required=False, limit=limits.KEY) or str(i + 1)
    quantity = raw.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        problems.append(FieldProblem(f"{path}.quantity", "must be a whole number"))
    elif quantity <= 0:
        problems.append(FieldProblem(f"{path}.quantity", f"must be positive, got {quantity}"))
    if "price" not in raw:
        problems.append(FieldProblem(f"{path}.price", "is required"))
    else:
        try:
            if parse_decimal(raw["price"], f"{path}.price") < 0:
                problems.append(FieldProblem(f"{path}.price", "must not be negative"))
        except InvalidInput as error:
            problems.extend(error.problems)
    if len(problems) > before:
        return None
    assert sku is not None
    return LineInput(line_id, sku, category, int(quantity), raw["price"], raw.get("discount") or 0)


def quote_result(
    order_key: str | None, status: str, member_id: int | None, version: ProgramVersion, q: Quote, occurred_at: datetime
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
