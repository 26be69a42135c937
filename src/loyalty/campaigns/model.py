"""Campaigns and personal offers: time-boxed rules aimed at an audience, with a budget, a per-member cap and a
stacking policy. A personal offer is a campaign given to chosen members (a segment or a list) that the member
can see; everything else about them is the same, so both are one type here.

How campaigns stack with the program's own rules and with each other (documented in the README):
- `add`: its points come on top of the program's rules and of every other campaign.
- `best`: best one wins. Line by line, the program's rules (with the tier bonus) and every `best` campaign
  compete; the one giving the most points on the line keeps it and the others earn nothing there ("10% instead
  of 5%"). Ties go to the program, then to the higher priority.
- `exclusive`: when it earns, no other campaign or offer applies to the order (the program's rules still do);
  among several, the highest priority wins.
A campaign never changes what points can pay: only a redemption campaign does, and then the one with the highest
priority in force sets the order's redemption limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo

from loyalty.program.rules import (
    CategoryCondition,
    Condition,
    Effect,
    LineView,
    OrderContext,
    SkuCondition,
    ViewedCondition,
    first_block,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Stacking(StrEnum):
    ADD = "add"
    BEST = "best"
    EXCLUSIVE = "exclusive"


class AudienceKind(StrEnum):
    EVERYONE = "everyone"
    SEGMENTS = "segments"
    TIERS = "tiers"
    MEMBERS = "members"  # a list of members kept with the campaign


@dataclass(frozen=True)
class Schedule:
    """When a campaign is in force, by the order's `occurred_at`: from `starts_at` until before `ends_at`, on
    the given days of the week and between the given hours, both in the program's time zone. An hours window
    whose end is not after its start runs past midnight (22:00–02:00)."""

    starts_at: datetime
    ends_at: datetime | None = None
    days_of_week: frozenset[int] = frozenset()  # ISO: 1 = Monday; empty means every day
    hours: tuple[time, time] | None = None

    def blocks(self, at: datetime, tz: ZoneInfo, local: datetime | None = None) -> str | None:
        if at < self.starts_at:
            return f"starts at {self.starts_at.astimezone(tz).isoformat()}"
        if self.ends_at is not None and at >= self.ends_at:
            return f"ended at {self.ends_at.astimezone(tz).isoformat()}"
        if not self.days_of_week and self.hours is None:
            return None
        local = local or at.astimezone(tz)
        weekday = local.isoweekday()
        if self.hours is not None:
            start, end = self.hours
            now = local.time().replace(tzinfo=None)
            inside = start <= now < end if start < end else (now >= start or now < end)
            if not inside:
                return f"only between {start:%H:%M} and {end:%H:%M}"
            if start >= end and now < end:
                # After midnight a night window still belongs to the evening it started on, for the days of the week.
                weekday = (weekday - 2) % 7 + 1
        if self.days_of_week and weekday not in self.days_of_week:
            return "only on " + ", ".join(WEEKDAYS[d - 1] for d in sorted(self.days_of_week))
        return None


@dataclass(frozen=True)
class Audience:
    kind: AudienceKind = AudienceKind.EVERYONE
    ids: frozenset[str] = frozenset()  # segment or tier ids

    def blocks(self, campaign_id: str, order: OrderContext) -> str | None:
        if not order.is_member:
            return "only for members"
        attributes = order.member_attributes
        if self.kind is AudienceKind.EVERYONE:
            return None
        if self.kind is AudienceKind.TIERS:
            tier = attributes.get("tier")
            return None if tier in self.ids else f"only for tiers {', '.join(sorted(self.ids))}"
        if self.kind is AudienceKind.SEGMENTS:
            segments = attributes.get("segments")
            if isinstance(segments, frozenset) and segments & self.ids:
                return None
            return f"only for segments {', '.join(sorted(self.ids))}"
        listed = attributes.get("listed")
        return None if isinstance(listed, frozenset) and campaign_id in listed else "only for the members listed"


@dataclass(frozen=True)
class RedemptionOverride:
    """What a redemption campaign changes in the program's redemption policy while it is in force."""

    max_share: Decimal | None = None  # 0..1
    min_check: int | None = None  # minor units


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    revision: int
    schedule: Schedule
    audience: Audience = Audience()
    personal: bool = False  # a personal offer rather than a campaign
    enabled: bool = True
    description: str | None = None
    stacking: Stacking = Stacking.ADD
    priority: int = 0
    conditions: tuple[Condition, ...] = ()
    effect: Effect | None = None  # earns like a program rule...
    multiplier: Decimal | None = None  # ...or multiplies what the program's rules earned on its lines
    max_points_per_order: int | None = None
    redemption: RedemptionOverride | None = None
    budget: int | None = None  # points, over the campaign's life
    per_member_cap: int | None = None  # points one member can get from it, over its life

    @cached_property
    def source(self) -> str:
        """The name its points carry on the quote and in the ledger."""
        return f"{'offer' if self.personal else 'campaign'}:{self.id}"

    @property
    def earns(self) -> bool:
        return self.effect is not None or self.multiplier is not None

    def reaches(self, order: OrderContext, tz: ZoneInfo) -> str | None:
        """None when the order is in the campaign's time box and its member in its audience; else why not."""
        if not self.enabled:
            return "paused"
        return self.schedule.blocks(order.occurred_at, tz, order.local_at) or self.audience.blocks(self.id, order)

    @cached_property
    def line_conditions(self) -> tuple[Condition, ...]:
        """The conditions that pick lines; the others only decide about the whole order."""
        return tuple(c for c in self.conditions if isinstance(c, CategoryCondition | SkuCondition | ViewedCondition))

    def admits_line(self, line: LineView, order: OrderContext) -> bool:
        return all(c.admits_line(line, order) for c in self.line_conditions)

    def blocks_order(self, order: OrderContext) -> str | None:
        return first_block(self.conditions, order)


def by_priority(campaigns: tuple[Campaign, ...] | list[Campaign]) -> list[Campaign]:
    """Highest priority first; equal priorities in id order, so the outcome never depends on storage order."""
    return sorted(campaigns, key=lambda c: (-c.priority, c.id))
