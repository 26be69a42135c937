"""The cart a quote prices: its lines, their own and the order-wide discounts, and the checks it must pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from loyalty.core.allocation import allocate
from loyalty.core.errors import FieldProblem, InvalidInput


class CartLine(NamedTuple):
    """One line of a cart in minor units (a named tuple: a cart of a thousand lines is built on every request)."""

    line_id: str
    sku: str
    category: str | None
    quantity: int
    unit_price: int  # minor units
    discount: int = 0  # minor units, off this line

    @property
    def gross(self) -> int:
        return self.quantity * self.unit_price - self.discount


@dataclass(frozen=True)
class Cart:
    lines: tuple[CartLine, ...]
    occurred_at: datetime
    channel: str | None = None
    store: str | None = None
    discount: int = 0  # an order-wide discount, spread over the lines in proportion to their amounts

    def validate(self) -> None:
        problems: list[FieldProblem] = []
        if not self.lines:
            problems.append(FieldProblem("lines", "an order needs at least one line"))
        seen: set[str] = set()
        for i, line in enumerate(self.lines):
            if line.quantity <= 0:
                problems.append(FieldProblem(f"lines[{i}].quantity", f"must be positive, got {line.quantity}"))
            if line.unit_price < 0:
                problems.append(FieldProblem(f"lines[{i}].price", "must not be negative"))
            if line.discount < 0 or line.discount > line.quantity * max(line.unit_price, 0):
                problems.append(FieldProblem(f"lines[{i}].discount", "must be between zero and the line amount"))
            if line.line_id in seen:
                problems.append(FieldProblem(f"lines[{i}].line_id", f"duplicate line id {line.line_id!r}"))
            seen.add(line.line_id)
        if self.occurred_at.tzinfo is None:
            problems.append(FieldProblem("occurred_at", "must carry a time zone offset"))
        gross = sum(line.gross for line in self.lines)
        if self.discount < 0 or (not problems and self.discount > gross):
            problems.append(FieldProblem("discount", "must be between zero and the order amount"))
        if problems:
            raise InvalidInput(problems)

    def line_amounts(self) -> list[int]:
        """Each line's amount after its own discount and its part of the order-wide discount."""
        gross = [line.gross for line in self.lines]
        if self.discount == 0:
            return gross
        shares = allocate(self.discount, gross, gross)
        return [g - s for g, s in zip(gross, shares, strict=True)]
