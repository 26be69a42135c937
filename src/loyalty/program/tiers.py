"""Tiers (Silver / Gold / Platinum): which level a member's qualifying spend or order count earns, the progress
to the next level, and how long a level is kept.

Qualification counts purchases (net of returns) over the program's period: the whole lifetime, a rolling
window of N days, or the calendar year in the program's time zone. A member moves up as soon as an order
crosses a threshold; a member moves down only when the tiers are re-evaluated (a job), and only once the
level's keep-until date, extended by the grace period, has passed. Never computed from the points balance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo


class TierBasis(StrEnum):
    SPEND = "spend"  # money spent, in minor units
    ORDERS = "orders"  # number of orders


class TierPeriod(StrEnum):
    LIFETIME = "lifetime"
    ROLLING = "rolling"
    CALENDAR_YEAR = "calendar_year"


@dataclass(frozen=True)
class TierLevel:
    id: str
    name: str
    threshold: int  # minor units of spend, or a number of orders
    multiplier: Decimal = Decimal(1)  # applied to every point the order's rules earn
    privileges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    level: TierLevel
    next_level: TierLevel | None
    remaining: int  # to the next level, in the basis's unit; 0 at the top


@dataclass(frozen=True)
class TierPolicy:
    """The levels in increasing order of threshold; the first one starts at zero and is every member's level."""

    levels: tuple[TierLevel, ...]
    basis: TierBasis = TierBasis.SPEND
    period: TierPeriod = TierPeriod.LIFETIME
    rolling_days: int = 365
    grace_days: int = 0

    def level(self, tier_id: str | None) -> TierLevel:
        """The level with this id, or the base level when there is none (or the program no longer has it)."""
        return next((lv for lv in self.levels if lv.id == tier_id), self.levels[0])

    def level_for(self, value: int) -> TierLevel:
        """The highest level whose threshold `value` reaches."""
        reached = self.levels[0]
        for level in self.levels:
            if value >= level.threshold:
                reached = level
        return reached

    def rank(self, level: TierLevel) -> int:
        return next(i for i, lv in enumerate(self.levels) if lv.id == level.id)

    def progress(self, value: int, current: TierLevel) -> Progress:
        """How far the member is from the level above the one they hold."""
        rank = self.rank(current)
        if rank + 1 >= len(self.levels):
            return Progress(current, None, 0)
        following = self.levels[rank + 1]
        return Progress(current, following, max(0, following.threshold - value))

    def window_start(self, at: datetime, tz: ZoneInfo) -> datetime | None:
        """The first instant of the qualification window that ends at `at` (None: since the beginning)."""
        if self.period is TierPeriod.LIFETIME:
            return None
        if self.period is TierPeriod.ROLLING:
            return at - timedelta(days=self.rolling_days)
        return datetime.combine(date(at.astimezone(tz).year, 1, 1), time(0), tz)

    def kept_until(self, qualified_at: datetime, tz: ZoneInfo) -> datetime | None:
        """Until when a level reached at `qualified_at` is kept, whatever happens to the qualifying value:
        a rolling window's length after it, or the end of the next calendar year; for ever on a lifetime basis."""
        if self.period is TierPeriod.LIFETIME:
            return None
        if self.period is TierPeriod.ROLLING:
            return qualified_at + timedelta(days=self.rolling_days)
        return datetime.combine(date(qualified_at.astimezone(tz).year + 2, 1, 1), time(0), tz)

    def upgrade(self, current: TierLevel, value: int) -> TierLevel | None:
        """The level to move up to at once after an order, if the value now reaches a higher one."""
        reached = self.level_for(value)
        return reached if self.rank(reached) > self.rank(current) else None

    def reevaluate(self, current: TierLevel, value: int, kept_until: datetime | None, at: datetime) -> TierLevel:
        """The level after a re-evaluation at `at`: up if the value reaches higher; down only once the level's
        keep-until date plus the grace period has passed; otherwise unchanged. A lifetime level is kept for ever,
        and so is, here, a level without a keep-until date (one reached under a lifetime version: the job dates it
        from now when a version with a period is in force)."""
        reached = self.level_for(value)
        if self.rank(reached) >= self.rank(current):
            return reached
        if self.period is TierPeriod.LIFETIME or kept_until is None:
            return current
        if at < kept_until + timedelta(days=self.grace_days):
            return current
        return reached
