"""Caps on action bonuses: how many times an action may earn within its period, in the program's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from loyalty.program.model import CapPeriod


def period_start(period: CapPeriod, at: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant the cap period containing `at` began (None for a lifetime cap)."""
    local = at.astimezone(tz).date()
    if period is CapPeriod.LIFETIME:
        return None
    if period is CapPeriod.DAY:
        start = local
    elif period is CapPeriod.WEEK:
        start = local - timedelta(days=local.weekday())
    elif period is CapPeriod.MONTH:
        start = local.replace(day=1)
    else:
        start = date(local.year, 1, 1)
    return datetime.combine(start, time(0), tz)
