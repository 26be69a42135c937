"""Segments: groups of members a marketer aims campaigns and offers at.

A rule segment is a list of conditions over a member's facts, all of which must hold: RFM scores, days since the
last purchase, the average check, the number of purchases, the total spend, the tier, gender, age, city,
birthday month, consents and custom attributes. Purchases are orders net of returns: an order wholly returned
is not a purchase, and the money of returned units is not spend. A member without purchases has no recency,
average check or RFM scores, so conditions on them never hold for that member (`purchase_count: {max: 0}`
finds the members who never bought).

RFM scores are quintiles 1..5 over the members with purchases, by rank, so members with equal values share a
score: the most recent, most frequent and biggest spenders score 5 (see `quintile`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import format_money, parse_money

SEGMENT_ID = re.compile(limits.id_pattern(limits.SEGMENT_ID))
GENDERS = ("female", "male", "other")
CONSENTS = ("personal_data", "email", "sms")
SCORES = 5  # quintiles
MAX_DAYS = 36_500
MAX_AGE = 150
MAX_COUNT = 10**9


def quintile(rank: int, population: int) -> int:
    """The score 1..5 of the value ranked `rank` (1 = lowest; equal values share the lowest rank of their
    group) among `population` values: the fifth with the lowest values scores 1, the top fifth 5."""
    return 1 + (rank - 1) * SCORES // population


@dataclass(frozen=True)
class MemberFacts:
    """What segment conditions read about one member, as of an instant."""

    member_id: int
    purchase_count: int = 0  # orders not wholly returned
    total_spend: int = 0  # minor units, net of returns
    last_purchase_at: datetime | None = None
    recency_score: int | None = None  # 1..5 among the members with purchases; None without any
    frequency_score: int | None = None
    monetary_score: int | None = None
    tier: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    consents: frozenset[str] = frozenset()  # the kinds granted
    attributes: Mapping[str, object] = field(default_factory=dict)

    @property
    def city(self) -> str | None:
        city = self.attributes.get("city")
        return city if isinstance(city, str) else None


@dataclass(frozen=True)
class AsOf:
    """The instant a segment is computed at; calendar facts (days, age) use the program's time zone."""

    instant: datetime
    timezone: ZoneInfo

    @property
    def today(self) -> date:
        return self.instant.astimezone(self.timezone).date()

    def days_since(self, moment: datetime) -> int:
        return (self.today - moment.astimezone(self.timezone).date()).days

    def age(self, birth_date: date) -> int:
        today = self.today
        return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True)
class Bounds:
    """An inclusive range; a missing end is open."""

    minimum: int | None = None
    maximum: int | None = None

    def contains(self, value: int) -> bool:
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)


class Condition(Protocol):
    def holds(self, member: MemberFacts, at: AsOf) -> bool: ...


@dataclass(frozen=True)
class ScoreCondition:
    score: str  # recency | frequency | monetary
    bounds: Bounds

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        value = {
            "recency": member.recency_score,
            "frequency": member.frequency_score,
            "monetary": member.monetary_score,
        }[self.score]
        return value is not None and self.bounds.contains(value)


@dataclass(frozen=True)
class DaysSinceLastPurchase:
    bounds: Bounds

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        last = member.last_purchase_at
        return last is not None and self.bounds.contains(at.days_since(last))


@dataclass(frozen=True)
class PurchaseCount:
    bounds: Bounds

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return self.bounds.contains(member.purchase_count)


@dataclass(frozen=True)
class TotalSpend:
    bounds: Bounds  # minor units

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return self.bounds.contains(member.total_spend)


@dataclass(frozen=True)
class AverageCheck:
    """Spend per purchase within the band, compared exactly (min × count ≤ spend ≤ max × count), no rounding."""

    bounds: Bounds  # minor units

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        count, spend = member.purchase_count, member.total_spend
        if count <= 0:
            return False
        low, high = self.bounds.minimum, self.bounds.maximum
        return (low is None or low * count <= spend) and (high is None or spend <= high * count)


@dataclass(frozen=True)
class TierCondition:
    tiers: frozenset[str]

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return member.tier in self.tiers


@dataclass(frozen=True)
class GenderCondition:
    genders: frozenset[str]

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return member.gender in self.genders


@dataclass(frozen=True)
class AgeCondition:
    bounds: Bounds  # whole years on the local date

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return member.birth_date is not None and self.bounds.contains(at.age(member.birth_date))


@dataclass(frozen=True)
class CityCondition:
    cities: frozenset[str]  # case-folded

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        city = member.city
        return city is not None and city.strip().casefold() in self.cities


@dataclass(frozen=True)
class BirthdayMonth:
    months: frozenset[int]

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return member.birth_date is not None and member.birth_date.month in self.months


@dataclass(frozen=True)
class ConsentCondition:
    """Each named consent granted (true) or not granted — never given or withdrawn (false)."""

    required: tuple[tuple[str, bool], ...]

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return all((kind in member.consents) is granted for kind, granted in self.required)


@dataclass(frozen=True)
class AttributesCondition:
    """Each custom attribute equals the value given (same type: "1" is not 1, true is not 1); null means the
    attribute is absent or null."""

    expected: tuple[tuple[str, object], ...]

    def holds(self, member: MemberFacts, at: AsOf) -> bool:
        return all(_same(member.attributes.get(key), value) for key, value in self.expected)


def _same(actual: object, expected: object) -> bool:
    return type(actual) is type(expected) and actual == expected


@dataclass(frozen=True)
class SegmentDefinition:
    """A rule segment's conditions; a member belongs when every one holds."""

    conditions: tuple[Condition, ...]

    def matches(self, member: MemberFacts, at: AsOf) -> bool:
        return all(condition.holds(member, at) for condition in self.conditions)


class _Reader:
    """Collects every problem with its path instead of stopping at the first."""

    def __init__(self, exponent: int, known_tiers: frozenset[str] | None, check_tiers: bool) -> None:
        self.problems: list[FieldProblem] = []
        self.exponent = exponent
        self.known_tiers = known_tiers
        self.check_tiers = check_tiers

    def fail(self, path: str, reason: str) -> None:
        self.problems.append(FieldProblem(path, reason))

    def integer(self, value: object, path: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "must be an integer")
            return None
        if not low <= value <= high:
            self.fail(path, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def money(self, value: object, path: str) -> int | None:
        try:
            return parse_money(value, self.exponent, path)
        except InvalidInput as error:
            self.problems.extend(error.problems)
            return None

    def bounds(
        self, value: object, path: str, read: Callable[[object, str], int | None], show: Callable[[int], str]
    ) -> Bounds | None:
        if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
            self.fail(path, "must be a mapping with min, max or both")
            return None
        low = read(value["min"], f"{path}.min") if value.get("min") is not None else None
        high = read(value["max"], f"{path}.max") if value.get("max") is not None else None
        if (value.get("min") is not None and low is None) or (value.get("max") is not None and high is None):
            return None
        if low is None and high is None:
            self.fail(path, "must give min, max or both")
            return None
        if low is not None and high is not None and low > high:
            self.fail(path, f"min {show(low)} is greater than max {show(high)}")
            return None
        return Bounds(low, high)

    def counted(self, value: object, path: str, low: int, high: int) -> Bounds | None:
        return self.bounds(value, path, lambda v, p: self.integer(v, p, low, high), str)

    def amounts(self, value: object, path: str) -> Bounds | None:
        return self.bounds(value, path, self.money, lambda v: format_money(v, self.exponent))

    def names(self, value: object, path: str, allowed: tuple[str, ...] | None = None) -> frozenset[str] | None:
        items = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v.strip()]
        if not items or (isinstance(value, list) and len(items) != len(value)) or any(len(v) > 200 for v in items):
            self.fail(path, "must be a name or a non-empty list of names (up to 200 characters each)")
            return None
        unknown = [v for v in items if allowed is not None and v not in allowed]
        for name in unknown:
            self.fail(path, f"unknown value {name!r}; expected one of {list(allowed or ())}")
        return None if unknown else frozenset(items)


def _score(name: str) -> Callable[[_Reader, object, str], Condition | None]:
    def read(r: _Reader, value: object, path: str) -> Condition | None:
        bounds = r.counted(value, path, 1, SCORES)
        return ScoreCondition(name, bounds) if bounds else None

    return read


def _tier(r: _Reader, value: object, path: str) -> Condition | None:
    tiers = r.names(value, path)
    if tiers is None:
        return None
    if not r.check_tiers:
        return TierCondition(tiers)
    if r.known_tiers is None:
        r.fail(path, "the published program has no tiers")
        return None
    for tier_id in sorted(tiers - r.known_tiers):
        r.fail(path, f"unknown tier {tier_id!r}; the program's tiers are {sorted(r.known_tiers)}")
    return TierCondition(tiers) if tiers <= r.known_tiers else None


def _city(r: _Reader, value: object, path: str) -> Condition | None:
    cities = r.names(value, path)
    return CityCondition(frozenset(c.strip().casefold() for c in cities)) if cities else None


def _months(r: _Reader, value: object, path: str) -> Condition | None:
    items = value if isinstance(value, list) else [value]
    months = [r.integer(v, f"{path}[{i}]" if isinstance(value, list) else path, 1, 12) for i, v in enumerate(items)]
    if not items:
        r.fail(path, "must be a month 1..12 or a non-empty list of months")
    return BirthdayMonth(frozenset(m for m in months if m)) if items and all(months) else None


def _consent(r: _Reader, value: object, path: str) -> Condition | None:
    if not isinstance(value, dict) or not value:
        r.fail(path, 'must map consents to true (granted) or false (not granted), such as {"email": true}')
        return None
    ok = True
    for kind, granted in value.items():
        if kind not in CONSENTS:
            r.fail(f"{path}.{kind}", f"unknown consent; expected one of {list(CONSENTS)}")
            ok = False
        elif not isinstance(granted, bool):
            r.fail(f"{path}.{kind}", "must be true or false")
            ok = False
    return ConsentCondition(tuple(sorted(value.items()))) if ok else None


def _attributes(r: _Reader, value: object, path: str) -> Condition | None:
    if not isinstance(value, dict) or not value:
        r.fail(path, 'must map attribute names to the values they must equal, such as {"vip": true}')
        return None
    ok = True
    for key, expected in value.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            r.fail(path, f"attribute name {key!r} must be 1 to 100 characters")
            ok = False
        elif expected is not None and (isinstance(expected, float) or not isinstance(expected, str | int | bool)):
            r.fail(f"{path}.{key}", "must be a string, an integer, true, false or null")
            ok = False
    return AttributesCondition(tuple(sorted(value.items()))) if ok else None


_READERS: dict[str, Callable[[_Reader, object, str], Condition | None]] = {
    "recency_score": _score("recency"),
    "frequency_score": _score("frequency"),
    "monetary_score": _score("monetary"),
    "days_since_last_purchase": lambda r, v, p: _wrap(DaysSinceLastPurchase, r.counted(v, p, 0, MAX_DAYS)),
    "purchase_count": lambda r, v, p: _wrap(PurchaseCount, r.counted(v, p, 0, MAX_COUNT)),
    "total_spend": lambda r, v, p: _wrap(TotalSpend, r.amounts(v, p)),
    "average_check": lambda r, v, p: _wrap(AverageCheck, r.amounts(v, p)),
    "tier": _tier,
    "gender": lambda r, v, p: _wrap(GenderCondition, r.names(v, p, GENDERS)),
    "age": lambda r, v, p: _wrap(AgeCondition, r.counted(v, p, 0, MAX_AGE)),
    "city": _city,
    "birthday_month": _months,
    "consent": _consent,
    "attributes": _attributes,
}
CONDITIONS = tuple(_READERS)


def _wrap(kind: Callable[[Any], Condition], value: object) -> Condition | None:
    return kind(value) if value is not None else None


def parse_conditions(
    value: object,
    *,
    exponent: int = 2,
    known_tiers: frozenset[str] | None = None,
    check_tiers: bool = True,
    path: str = "conditions",
) -> SegmentDefinition:
    """The definition a list of conditions describes, each a mapping of one condition name to its argument
    (`[{"average_check": {"min": "700", "max": "900"}}, {"tier": ["gold"]}]`). `known_tiers` are the tier ids
    of the published program (None: it has no tiers); a stored definition is read again with `check_tiers`
    off, as a tier a later version dropped simply matches nobody. Raises InvalidInput naming every bad field."""
    r = _Reader(exponent, known_tiers, check_tiers)
    if not isinstance(value, list) or not value:
        raise InvalidInput.at(path, f"must be a non-empty list of conditions, each one of {list(CONDITIONS)}")
    conditions: list[Condition] = []
    for i, item in enumerate(value):
        at = f"{path}[{i}]"
        if not isinstance(item, dict) or len(item) != 1:
            r.fail(at, 'must be a mapping of exactly one condition to its argument, such as {"tier": ["gold"]}')
            continue
        ((name, argument),) = item.items()
        reader = _READERS.get(name)
        if reader is None:
            r.fail(f"{at}.{name}", f"unknown condition; expected one of {list(CONDITIONS)}")
            continue
        condition = reader(r, argument, f"{at}.{name}")
        if condition is not None:
            conditions.append(condition)
    if r.problems:
        raise InvalidInput(r.problems)
    return SegmentDefinition(tuple(conditions))


def check_segment(segment_id: object, name: object) -> tuple[str, str]:
    """A segment's id (lower-case letters, digits, '_', '-', '.') and its name, or InvalidInput naming both."""
    problems = []
    if not isinstance(segment_id, str) or not SEGMENT_ID.fullmatch(segment_id):
        problems.append(
            FieldProblem(
                "segment_id",
                f"is required: lower-case letters, digits, '_', '-' or '.', up to {limits.SEGMENT_ID} characters",
            )
        )
    if not isinstance(name, str) or not name.strip() or len(name) > limits.NAME:
        problems.append(FieldProblem("name", f"is required: up to {limits.NAME} characters"))
    if problems:
        raise InvalidInput(problems)
    assert isinstance(segment_id, str) and isinstance(name, str)
    return segment_id, name.strip()
