"""The loyalty program: one immutable version of the published rules, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from loyalty.core.money import Rounding
from loyalty.program.rules import EarningRule
from loyalty.program.tiers import TierPolicy


class ExpiryKind(StrEnum):
    NEVER = "never"
    AFTER_DAYS = "after_days"
    FIXED_DATE = "fixed_date"


class ExpiryStart(StrEnum):
    """Whether the life of pending points counts from the purchase or from when they become spendable."""

    ACCRUAL = "accrual"
    AVAILABLE = "available"


@dataclass(frozen=True)
class ExpiryPolicy:
    """When accrued points burn.

    `after_days`: N days after the start (accrual or availability). `fixed_date`: at the end of a calendar day
    in the program's time zone, either a given date or the next occurrence of a month and day ("everything burns
    at the end of November"). Points are spendable strictly before `expires_at`, not at that instant.
    """

    kind: ExpiryKind = ExpiryKind.NEVER
    days: int | None = None
    on_date: date | None = None
    month: int | None = None
    day: int | None = None
    starts: ExpiryStart = ExpiryStart.ACCRUAL

    def expires_at(self, accrued_at: datetime, available_at: datetime, tz: ZoneInfo) -> datetime | None:
        start = accrued_at if self.starts is ExpiryStart.ACCRUAL else available_at
        if self.kind is ExpiryKind.NEVER:
            return None
        if self.kind is ExpiryKind.AFTER_DAYS:
            assert self.days is not None
            return start + timedelta(days=self.days)
        # A recurring date counts from when the points unlock, so pending points never burn before they could
        # be spent ("burns at the end of November" on points unlocking on 4 December means next November).
        unlock = max(start, available_at).astimezone(tz).date()
        burn_day = self.on_date or _next_month_day(unlock, self.month or 12, self.day or 31)
        return datetime.combine(burn_day + timedelta(days=1), time(0), tz).astimezone(start.tzinfo)


def _next_month_day(today: date, month: int, day: int) -> date:
    """The first date on or after `today` that is `month`/`day` (29 February falls back to the 28th)."""
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = date(year, month, day - 1)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable: a month and day recur within a year")


@dataclass(frozen=True)
class EarningPolicy:
    """How orders earn. Every matching rule adds its points (stacking by sum); `excluded_categories` never form
    part of the earning base (delivery, gift cards), so points cannot be farmed on them."""

    rules: tuple[EarningRule, ...]
    excluded_categories: frozenset[str] = frozenset()
    rounding: Rounding = Rounding.DOWN
    pending_days: int = 0
    members_only: bool = True


@dataclass(frozen=True)
class RedemptionPolicy:
    """How points pay for an order."""

    min_check: int = 0  # minor units; below it no points can be spent
    max_share: Decimal = Decimal(1)  # the part of the eligible amount payable with points, 0..1
    excluded_categories: frozenset[str] = frozenset()
    earn_or_spend: bool = False  # an order paid partly with points earns nothing


class CapPeriod(StrEnum):
    LIFETIME = "lifetime"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class ActionBonus:
    """Points for an action (registration, review, referral...), at most `cap_count` times per `cap_period`
    (`cap_count` None: no cap). Without a cap in the document, an action earns once per member's lifetime."""

    action: str
    points: int
    cap_count: int | None = 1
    cap_period: CapPeriod = CapPeriod.LIFETIME
    pending_days: int = 0
    cap_given: bool = field(default=True, compare=False)  # False: the document gave no cap, the default applies

    def cap_text(self) -> str:
        """The cap in words: "once per lifetime (the default when no cap is given)", "at most 3 per month"."""
        if self.cap_count is None:
            return "unlimited"
        times = "once" if self.cap_count == 1 else f"at most {self.cap_count} times"
        text = f"{times} per {self.cap_period.value}"
        return text if self.cap_given else f"{text} (the default when no cap is given)"


@dataclass(frozen=True)
class ReferralPolicy:
    """Points for referrals, both sides. The new member gets `new_member_points` when registering with a code (or
    attaching one within `attach_within_days` of registering, before a first confirmed order); the referrer gets
    `referrer_points` once the new member's first confirmed order not cancelled or wholly returned is
    `return_window_days` old, unless the referrer already has `max_per_referrer` rewarded referrals (lifetime) or
    `max_per_referrer_per_month` in the calendar month (program time zone): then the referral is void."""

    new_member_points: int = 0
    referrer_points: int = 0
    return_window_days: int = 14
    max_per_referrer: int | None = None
    max_per_referrer_per_month: int | None = None
    attach_within_days: int = 30
    pending_days: int = 0


@dataclass(frozen=True)
class WinBackPolicy:
    """Points that win back a member inactive for `inactive_days` (no confirmed order in that time, or none since
    registering): `points`, burning `expires_after_days` after the grant, able to pay at most `max_share` (0..1) of
    an order's eligible amount; the limit applies to those points only. One grant per spell of inactivity: the
    next needs a new order and `inactive_days` without one again, or, with `repeat_after_days`, that many days
    without an order since the last grant."""

    inactive_days: int
    points: int
    expires_after_days: int
    max_share: Decimal = Decimal("0.5")
    repeat_after_days: int | None = None


class Shortfall(StrEnum):
    """What a return does when the points it must take back were already spent.

    NEGATIVE_BALANCE: the account goes into debt, repaid first from later accruals.
    RECORD_SHORTFALL: take what there is, record the rest on the return, the balance stays at zero or above.
    """

    NEGATIVE_BALANCE = "negative_balance"
    RECORD_SHORTFALL = "record_shortfall"


@dataclass(frozen=True)
class Program:
    name: str
    currency: str
    exponent: int
    point_value: int  # minor units of money one point is worth
    timezone: ZoneInfo
    earning: EarningPolicy
    redemption: RedemptionPolicy
    expiry: ExpiryPolicy
    actions: dict[str, ActionBonus]
    shortfall: Shortfall = Shortfall.NEGATIVE_BALANCE
    tiers: TierPolicy | None = None
    referrals: ReferralPolicy | None = None
    win_back: WinBackPolicy | None = None

    def rule(self, rule_id: str) -> EarningRule | None:
        return next((r for r in self.earning.rules if r.id == rule_id), None)


@dataclass(frozen=True)
class ProgramVersion:
    """A published version: immutable, in force from `effective_from` until the next version's date."""

    number: int
    effective_from: datetime
    program: Program
    document: dict[str, object]
