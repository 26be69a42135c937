"""Points for actions (registration, review...) and the calendar periods their caps count in, in the program's
time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.engagement.model import period_start
from loyalty.program.document import parse_program
from loyalty.program.model import ActionBonus, CapPeriod

MSK = ZoneInfo("Europe/Moscow")
# Hypothesis takes naive bounds and attaches the time zone itself.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None)
LATEST = datetime(2090, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def test_the_registration_bonus_is_500_points_once() -> None:
    program = parse_program({"name": "Welcome", "actions": {"registration": {"points": 500}}})
    assert program.actions == {"registration": ActionBonus("registration", 500, 1, CapPeriod.LIFETIME, 0)}


def test_action_caps_and_pending_days_come_from_the_document() -> None:
    program = parse_program(
        {
            "name": "Actions",
            "actions": {
                "review": {"points": 50, "cap": {"count": 3, "per": "month"}, "pending_days": 7},
                "referral": {"points": 300, "cap": {"count": 10, "per": "year"}},
                "email_open": {"points": 1, "cap": {"count": 1, "per": "day"}},
            },
        }
    )
    assert program.actions["review"] == ActionBonus("review", 50, 3, CapPeriod.MONTH, 7)
    assert program.actions["referral"] == ActionBonus("referral", 300, 10, CapPeriod.YEAR, 0)
    assert program.actions["email_open"] == ActionBonus("email_open", 1, 1, CapPeriod.DAY, 0)


def test_a_lifetime_cap_has_no_period_start() -> None:
    assert period_start(CapPeriod.LIFETIME, datetime(2026, 3, 10, tzinfo=UTC), MSK) is None


@pytest.mark.parametrize(
    ("period", "at", "start"),
    [
        # 21:30 UTC on 10 March is already 11 March in Moscow: the day that counts is the Moscow one.
        (CapPeriod.DAY, datetime(2026, 3, 10, 21, 30, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=MSK)),
        (CapPeriod.DAY, datetime(2026, 3, 10, 20, 59, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=MSK)),
        # Weeks start on Monday: Thursday 12 March 2026 belongs to the week of Monday 9 March.
        (CapPeriod.WEEK, datetime(2026, 3, 12, 10, 0, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=MSK)),
        (CapPeriod.WEEK, datetime(2026, 3, 15, 20, 59, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=MSK)),
        (CapPeriod.WEEK, datetime(2026, 3, 15, 21, 0, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=MSK)),
        (CapPeriod.MONTH, datetime(2026, 3, 31, 22, 0, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=MSK)),
        (CapPeriod.MONTH, datetime(2026, 3, 31, 20, 0, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=MSK)),
        (CapPeriod.YEAR, datetime(2026, 12, 31, 21, 0, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=MSK)),
        (CapPeriod.YEAR, datetime(2026, 12, 31, 20, 59, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=MSK)),
    ],
)
def test_cap_periods_are_calendar_periods_in_the_program_time_zone(
    period: CapPeriod, at: datetime, start: datetime
) -> None:
    assert period_start(period, at, MSK) == start


@given(
    at=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)),
    period=st.sampled_from([CapPeriod.DAY, CapPeriod.WEEK, CapPeriod.MONTH, CapPeriod.YEAR]),
    zone=st.sampled_from(["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_the_period_containing_an_instant_starts_at_a_local_midnight_before_it(
    at: datetime, period: CapPeriod, zone: str
) -> None:
    tz = ZoneInfo(zone)
    start = period_start(period, at, tz)
    assert start is not None
    assert start <= at
    local = start.astimezone(tz)
    assert local.time() == time(0)
    longest = {CapPeriod.DAY: 1, CapPeriod.WEEK: 7, CapPeriod.MONTH: 31, CapPeriod.YEAR: 366}[period]
    assert at - start < timedelta(days=longest, hours=1)  # an hour of slack for a daylight saving day
    # The period's own start belongs to the same period.
    assert period_start(period, start, tz) == start
    if period is CapPeriod.WEEK:
        assert local.weekday() == 0
    if period is CapPeriod.MONTH:
        assert local.day == 1
    if period is CapPeriod.YEAR:
        assert (local.month, local.day) == (1, 1)


def test_a_cap_without_a_count_means_once_per_period_and_null_means_no_cap() -> None:
    program = parse_program(
        {
            "name": "x",
            "actions": {
                "email_open": {"points": 5, "cap": {"per": "day"}},
                "survey": {"points": 20, "cap": {"count": None}},
            },
        }
    )
    assert program.actions["email_open"].cap_count == 1
    assert program.actions["email_open"].cap_period is CapPeriod.DAY
    assert program.actions["survey"].cap_count is None
