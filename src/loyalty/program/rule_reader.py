"""Reading what a program rule and a campaign's earning part share: the reader that collects every problem with
its dotted path, a rule's conditions and its one effect. The program document (program_document.py) and campaign
definitions (campaign_document.py) both build on it, so neither imports the other's reader."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import parse_decimal, parse_money
from loyalty.program.rules import (
    Band,
    BandsEffect,
    BirthdayCondition,
    CategoryCondition,
    ChannelCondition,
    Condition,
    Effect,
    FixedEffect,
    MinimumOrderCondition,
    PercentEffect,
    PerStepEffect,
    SkuCondition,
    StoreCondition,
    TierCondition,
    ViewedCondition,
)

MAX_POINTS = 10**9  # one rule or bonus never gives more than a billion points
EFFECTS = ("percent", "bands", "per_step", "fixed_points")
RULE_KEYS = {
    "id",
    "name",
    "max_points_per_order",
    "categories",
    "exclude_categories",
    "skus",
    "exclude_skus",
    "channels",
    "stores",
    "min_order_amount",
    "tiers",
    "birthday",
    "viewed_within_days",
    *EFFECTS,
}


class Reader:
    """Reads typed fields out of nested dicts, recording a problem for each bad one instead of stopping."""

    def __init__(self, exponent: int = 2) -> None:
        self.problems: list[FieldProblem] = []
        self.exponent = exponent

    def fail(self, path: str, reason: str) -> None:
        self.problems.append(FieldProblem(path, reason))

    def mapping(self, value: object, path: str, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping")
            return {}
        for key in value:
            if key not in allowed:
                self.fail(f"{path}.{key}" if path else str(key), f"unknown field; expected one of {sorted(allowed)}")
        return value

    def integer(self, value: object, path: str, *, minimum: int = 0, maximum: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "must be an integer")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"at least {minimum}" if value < minimum else f"at most {maximum}"
            self.fail(path, f"must be {bound}, got {value}")
            return None
        return value

    def decimal(self, value: object, path: str, *, minimum: Decimal, maximum: Decimal | None = None) -> Decimal | None:
        try:
            number = parse_decimal(value, path)
        except InvalidInput as error:
            self.problems.extend(error.problems)
            return None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.fail(path, f"must be {bound}, got {number}")
            return None
        return number

    def money(self, value: object, path: str, *, positive: bool = False) -> int | None:
        try:
            amount = parse_money(value, self.exponent, path)
        except InvalidInput as error:
            self.problems.extend(error.problems)
            return None
        if positive and amount == 0:
            self.fail(path, "must be greater than zero")
            return None
        return amount

    def names(self, value: object, path: str) -> frozenset[str] | None:
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and 0 < len(v) <= limits.NAME for v in value)
        ):
            self.fail(path, f"must be a non-empty list of names of up to {limits.NAME} characters")
            return None
        return frozenset(value)

    def name(self, value: object, path: str, default: str) -> str:
        """An optional display name (the id when absent)."""
        if value is None or value == "":
            return default
        text = str(value)  # YAML reads `name: 2026` as a number
        if len(text) > limits.NAME:
            self.fail(path, f"must be text of up to {limits.NAME} characters")
            return default
        return text

    def choice(self, value: object, path: str, options: type[Any]) -> Any:
        try:
            return options(value)
        except ValueError:
            self.fail(path, f"must be one of {[o.value for o in options]}, got {value!r}")
            return None


def read_conditions(r: Reader, rule: dict[str, Any], path: str) -> tuple[Condition, ...]:
    conditions: list[Condition] = []
    include = r.names(rule["categories"], f"{path}.categories") if "categories" in rule else None
    exclude = (
        r.names(rule["exclude_categories"], f"{path}.exclude_categories") if "exclude_categories" in rule else None
    )
    if include is not None or exclude is not None:
        conditions.append(CategoryCondition(include, exclude or frozenset()))
    skus = r.names(rule["skus"], f"{path}.skus") if "skus" in rule else None
    no_skus = r.names(rule["exclude_skus"], f"{path}.exclude_skus") if "exclude_skus" in rule else None
    if skus is not None or no_skus is not None:
        conditions.append(SkuCondition(skus, no_skus or frozenset()))
    if "channels" in rule and (channels := r.names(rule["channels"], f"{path}.channels")) is not None:
        conditions.append(ChannelCondition(channels))
    if "stores" in rule and (stores := r.names(rule["stores"], f"{path}.stores")) is not None:
        conditions.append(StoreCondition(stores))
    if "tiers" in rule and (tier_ids := r.names(rule["tiers"], f"{path}.tiers")) is not None:
        conditions.append(TierCondition(tier_ids))
    if "birthday" in rule:
        window = rule["birthday"]
        if window is True:
            conditions.append(BirthdayCondition())
        else:
            spec = r.mapping(window, f"{path}.birthday", {"days_before", "days_after"})
            if not isinstance(window, dict):
                r.fail(f"{path}.birthday", "must be true (the day itself) or {days_before, days_after}")
            before = r.integer(spec.get("days_before", 0), f"{path}.birthday.days_before", maximum=31)
            after = r.integer(spec.get("days_after", 0), f"{path}.birthday.days_after", maximum=31)
            if before is not None and after is not None:
                conditions.append(BirthdayCondition(before, after))
    if "viewed_within_days" in rule:
        days = r.integer(rule["viewed_within_days"], f"{path}.viewed_within_days", minimum=1, maximum=365)
        if days is not None:
            conditions.append(ViewedCondition(days))
    if "min_order_amount" in rule:
        amount = r.money(rule["min_order_amount"], f"{path}.min_order_amount")
        if amount is not None:
            conditions.append(MinimumOrderCondition(amount))
    return tuple(conditions)


def read_effect(r: Reader, kind: str, value: object, path: str) -> Effect | None:
    if kind == "percent":
        percent = r.decimal(value, path, minimum=Decimal(0), maximum=Decimal(100))
        return PercentEffect(percent) if percent is not None else None
    if kind == "fixed_points":
        points = r.integer(value, path, minimum=1, maximum=MAX_POINTS)
        return FixedEffect(points) if points is not None else None
    if kind == "per_step":
        step_doc = r.mapping(value, path, {"every", "points"})
        step = r.money(step_doc.get("every"), f"{path}.every", positive=True)
        points = r.integer(step_doc.get("points"), f"{path}.points", minimum=1, maximum=MAX_POINTS)
        return PerStepEffect(step, points) if step is not None and points is not None else None
    return read_bands(r, value, path)


def read_bands(r: Reader, value: object, path: str) -> Effect | None:
    if not isinstance(value, list) or not value:
        r.fail(path, "must be a non-empty list of {up_to, percent} bands")
        return None
    bands: list[Band] = []
    previous: int | None = None
    for i, item in enumerate(value):
        band = r.mapping(item, f"{path}[{i}]", {"up_to", "percent"})
        percent = r.decimal(band.get("percent"), f"{path}[{i}].percent", minimum=Decimal(0), maximum=Decimal(100))
        up_to = r.money(band["up_to"], f"{path}[{i}].up_to") if band.get("up_to") is not None else None
        if band.get("up_to") is None and i != len(value) - 1:
            r.fail(f"{path}[{i}].up_to", "only the last band may be open-ended")
        if up_to is not None and previous is not None and up_to <= previous:
            r.fail(f"{path}[{i}].up_to", "bands must be in increasing order of up_to")
        previous = up_to if up_to is not None else previous
        if percent is not None:
            bands.append(Band(up_to, percent))
    return BandsEffect(tuple(bands)) if len(bands) == len(value) else None
