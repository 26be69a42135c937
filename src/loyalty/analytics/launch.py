"""Before vs after a launch: the KPIs of the N days before a date and of the N days from it, side by side, with how
each figure moved. The two periods are [launch - N days, launch) and [launch, launch + N days), in calendar days
of the launch's time zone (a day across a clock change is 23 or 25 hours)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty.analytics import service as analytics
from loyalty.analytics.kpi import change
from loyalty.core.errors import InvalidInput
from loyalty.storage.database import UnitOfWork

MAX_DAYS = 1825  # five years on either side
PARTS = ("overall", "members", "non_members")


def check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput.at("days", f"must be between 1 and {MAX_DAYS} (the days on either side of the launch)")


def compare(uow: UnitOfWork, launch: datetime, days: int) -> dict[str, Any]:
    """The KPIs of the `days` before `launch` and of the `days` from it; for each figure of `overall`, `members`
    and `non_members`: `before`, `after`, the `change` after - before and the `relative_change` (after - before)
    / |before| as decimal strings (null where a value is null, a flag, or, for the relative change, before is 0).
    `launch` carries the time zone whose calendar days count (a date in the program's zone, as the doors read
    it); InvalidInput naming `days` outside 1..1825."""
    check_days(days)
    span = timedelta(days=days)
    before = analytics.kpis(uow, launch - span, launch)
    after = analytics.kpis(uow, launch, launch + span)
    return {
        "launch": launch.isoformat(),
        "days": days,
        "currency": after["currency"],
        "before": {"from": before["from"], "to": before["to"]},
        "after": {"from": after["from"], "to": after["to"]},
        **{part: _side_by_side(before[part], after[part]) for part in PARTS},
    }


def _side_by_side(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    compared = {}
    for name, was in before.items():
        now = after[name]
        difference, relative = change(_number(was), _number(now))
        compared[name] = {
            "before": was,
            "after": now,
            "change": None if difference is None else str(difference),
            "relative_change": None if relative is None else str(relative),
        }
    return compared


def _number(value: object) -> Decimal | None:
    """A figure as a number: counts and points (int), money and ratios (decimal strings); a flag or null is none."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"not a KPI value: {value!r}")
