"""Segments: groups of members a marketer aims campaigns and offers at.

A rule segment is a list of conditions over a member's facts, all of which must hold: RFM scores, days since the
last purchase, the average check, the number of purchases, the total spend, the tier, gender, age, city,
birthday month, consents and custom attributes. Purchases are orders net of returns: an order wholly returned
is not a purchase, and the money of returned units is not spend. A member without purchases has no recency,
average check or RFM scores, so conditions on them never hold for that member (`purchase_count: {max: 0}`
finds the members who never bought).

RFM scores are quintiles 1..5 over the members with purchases, by rank, so members with equal values share a
score: the most recent, most frequent and biggest spenders score 5 (see `quintile`). A definition is read from
what a marketer writes by `segments.document`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

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
