"""Earning rules: conditions that pick the lines and orders a rule applies to, and effects that turn the
eligible amount into points. A rule is conditions + an effect + optional caps; a new kind of condition or
effect is a new class here and one entry in the document parser, the evaluator does not change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from loyalty.core.money import format_money


@dataclass(frozen=True)
class OrderContext:
    """What conditions may look at: the order, its member and the money scale of the program."""

    occurred_at: datetime
    local_date: date
    channel: str | None
    store: str | None
    total: int
    is_member: bool
    point_value: int
    exponent: int
    member_attributes: dict[str, object] = field(default_factory=dict)
    local_at: datetime | None = None  # occurred_at in the program's time zone, worked out once per order


class LineView(Protocol):
    @property
    def sku(self) -> str: ...
    @property
    def category(self) -> str | None: ...


class Condition(Protocol):
    """A condition restricts a rule to some lines (`admits_line`) or some orders (`blocks_order`)."""

    def admits_line(self, line: LineView, order: OrderContext) -> bool: ...

    def blocks_order(self, order: OrderContext) -> str | None:
        """None when the order qualifies, otherwise the reason it does not, for the explanation."""
        ...


@dataclass(frozen=True)
class CategoryCondition:
    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        if line.category in self.exclude:
            return False
        return self.include is None or line.category in self.include

    def blocks_order(self, order: OrderContext) -> str | None:
        return None


@dataclass(frozen=True)
class SkuCondition:
    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        if line.sku in self.exclude:
            return False
        return self.include is None or line.sku in self.include

    def blocks_order(self, order: OrderContext) -> str | None:
        return None


@dataclass(frozen=True)
class ChannelCondition:
    channels: frozenset[str]

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        return True

    def blocks_order(self, order: OrderContext) -> str | None:
        if order.channel in self.channels:
            return None
        return f"channel {order.channel or '(none)'} is not one of {', '.join(sorted(self.channels))}"


@dataclass(frozen=True)
class StoreCondition:
    stores: frozenset[str]

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        return True

    def blocks_order(self, order: OrderContext) -> str | None:
        if order.store in self.stores:
            return None
        return f"store {order.store or '(none)'} is not one of {', '.join(sorted(self.stores))}"


@dataclass(frozen=True)
class MinimumOrderCondition:
    """The order total must reach an amount (e.g. "from 1,000 ₽")."""

    amount: int

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        return True

    def blocks_order(self, order: OrderContext) -> str | None:
        if order.total >= self.amount:
            return None
        return f"order total is below {format_money(self.amount, order.exponent)}"


@dataclass(frozen=True)
class TierCondition:
    """Only members holding one of these tiers (the tier is read from the member's attributes)."""

    tiers: frozenset[str]

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        return True

    def blocks_order(self, order: OrderContext) -> str | None:
        tier = order.member_attributes.get("tier")
        if tier in self.tiers:
            return None
        return f"tier {tier or '(none)'} is not one of {', '.join(sorted(self.tiers))}"


class Effect(Protocol):
    """Turns the eligible amount (minor units) of the lines a rule admits into points, before rounding."""

    def points(self, base: int, order: OrderContext) -> Decimal: ...

    def describe(self, order: OrderContext) -> str: ...


@dataclass(frozen=True)
class PercentEffect:
    """`percent` of the eligible amount, in points (5% of 10,000 ₽ at 1 point = 1 ₽ → 500 points)."""

    percent: Decimal

    def points(self, base: int, order: OrderContext) -> Decimal:
        return Decimal(base) * self.percent / (100 * order.point_value)

    def describe(self, order: OrderContext) -> str:
        return f"{self.percent.normalize():f}% of the eligible amount"


@dataclass(frozen=True)
class Band:
    up_to: int | None  # inclusive upper bound of the eligible amount, minor units; None means no bound
    percent: Decimal


@dataclass(frozen=True)
class BandsEffect:
    """The rate depends on the eligible amount: the first band whose `up_to` it does not pass applies to all of
    it ("up to 1,000 ₽ → 5%, up to 2,000 ₽ → 10%"). Above the last bound the last band's rate applies."""

    bands: tuple[Band, ...]

    def band_for(self, base: int) -> Band:
        for band in self.bands:
            if band.up_to is None or base <= band.up_to:
                return band
        return self.bands[-1]

    def points(self, base: int, order: OrderContext) -> Decimal:
        return Decimal(base) * self.band_for(base).percent / (100 * order.point_value)

    def describe(self, order: OrderContext) -> str:
        parts = [
            f"{b.percent.normalize():f}% up to {format_money(b.up_to, order.exponent)}"
            if b.up_to is not None
            else f"{b.percent.normalize():f}% above"
            for b in self.bands
        ]
        return "amount bands: " + ", ".join(parts)


@dataclass(frozen=True)
class PerStepEffect:
    """`points` for every full `step` of the eligible amount (1,000 points for every full 1,000 ₽)."""

    step: int
    points_per_step: int

    def points(self, base: int, order: OrderContext) -> Decimal:
        return Decimal(base // self.step * self.points_per_step)

    def describe(self, order: OrderContext) -> str:
        return f"{self.points_per_step} points for every full {format_money(self.step, order.exponent)}"


@dataclass(frozen=True)
class FixedEffect:
    """A fixed number of points for a qualifying order."""

    fixed_points: int

    def points(self, base: int, order: OrderContext) -> Decimal:
        return Decimal(self.fixed_points) if base > 0 else Decimal(0)

    def describe(self, order: OrderContext) -> str:
        return f"{self.fixed_points} points per qualifying order"


@dataclass(frozen=True)
class EarningRule:
    id: str
    name: str
    effect: Effect
    conditions: tuple[Condition, ...] = ()
    max_points_per_order: int | None = None

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        return all(c.admits_line(line, order) for c in self.conditions)

    def blocks_order(self, order: OrderContext) -> str | None:
        return first_block(self.conditions, order)


def first_block(conditions: tuple[Condition, ...], order: OrderContext) -> str | None:
    """Why the first condition that turns the order away does so; None when none does."""
    for condition in conditions:
        reason = condition.blocks_order(order)
        if reason is not None:
            return reason
    return None


def birthday_in_window(birth_date: date, day: date, before: int, after: int) -> bool:
    """Whether `day` falls within `before` days before to `after` days after the birthday of that year (or of the
    neighbouring year, so a window may span the new year). 29 February is celebrated on 28 February in other
    years."""
    for year in (day.year - 1, day.year, day.year + 1):
        try:
            birthday = birth_date.replace(year=year)
        except ValueError:
            birthday = date(year, 2, 28)
        if birthday - timedelta(days=before) <= day <= birthday + timedelta(days=after):
            return True
    return False


@dataclass(frozen=True)
class BirthdayCondition:
    """Only in the member's birthday window, by the order's date in the program's time zone."""

    before: int = 0
    after: int = 0

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        return True

    def blocks_order(self, order: OrderContext) -> str | None:
        birth_date = order.member_attributes.get("birth_date")
        if not isinstance(birth_date, date):
            return "the member's birth date is not known"
        if birthday_in_window(birth_date, order.local_date, self.before, self.after):
            return None
        return "not in the member's birthday window"


@dataclass(frozen=True)
class ViewedCondition:
    """Only lines whose product the member viewed within `days` before the order (a `product_viewed` event):
    "buy what you were looking at"."""

    days: int

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        viewed = order.member_attributes.get("viewed")
        if not isinstance(viewed, dict):
            return False
        at = viewed.get(line.sku)
        return isinstance(at, datetime) and order.occurred_at - timedelta(days=self.days) <= at <= order.occurred_at

    def blocks_order(self, order: OrderContext) -> str | None:
        return None
