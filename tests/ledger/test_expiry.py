"""When accrued points burn: N days after accrual (or after they unlock), or at the end of a calendar day in the
program's time zone; and that they are not spendable at the instant they burn."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.checkout.cart import Cart, CartLine
from loyalty.checkout.quote import quote
from loyalty.ledger.model import Lot
from loyalty.program.document import parse_program
from loyalty.program.model import Program

MSK = ZoneInfo("Europe/Moscow")
# Hypothesis takes naive bounds and attaches the time zone itself.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None)
LATEST = datetime(2090, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def program(expiry: object, *, timezone: str = "Europe/Moscow", pending_days: int = 0) -> Program:
    document: dict[str, Any] = {
        "name": "Test",
        "timezone": timezone,
        "earning": {"rules": [{"id": "base", "percent": 5}], "pending_days": pending_days},
        "expiry": expiry,
    }
    return parse_program(document)


def expires(p: Program, accrued_at: datetime) -> datetime | None:
    available_at = accrued_at + timedelta(days=p.earning.pending_days)
    return p.expiry.expires_at(accrued_at, available_at, p.timezone)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- N days ------------------------------------------------------------------------------------------------------


def test_points_expire_365_days_after_accrual() -> None:
    p = program({"after_days": 365})
    assert expires(p, utc(2026, 3, 10, 12, 0)) == utc(2027, 3, 10, 12, 0)
    # Days, not a calendar year: across 29 February 2028, 365 days end a day earlier in the calendar.
    assert expires(p, utc(2027, 6, 1, 12, 0)) == utc(2028, 5, 31, 12, 0)


def test_pending_points_may_count_their_life_from_when_they_unlock() -> None:
    accrued = utc(2026, 3, 10, 12, 0)
    from_accrual = program({"after_days": 365}, pending_days=14)
    from_unlock = program({"after_days": 365, "starts": "available"}, pending_days=14)
    assert expires(from_accrual, accrued) == accrued + timedelta(days=365)
    assert expires(from_unlock, accrued) == accrued + timedelta(days=14 + 365)


def test_points_never_expire_unless_the_program_says_so() -> None:
    assert expires(program("never"), utc(2026, 3, 10)) is None
    assert expires(program(None), utc(2026, 3, 10)) is None


@given(
    accrued=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)),
    days=st.integers(min_value=1, max_value=3650),
    pending=st.integers(min_value=0, max_value=60),
    starts=st.sampled_from(["accrual", "available"]),
)
def test_after_days_is_exactly_that_many_days_from_the_start(
    accrued: datetime, days: int, pending: int, starts: str
) -> None:
    p = program({"after_days": days, "starts": starts}, pending_days=pending)
    start = accrued if starts == "accrual" else accrued + timedelta(days=pending)
    assert expires(p, accrued) == start + timedelta(days=days)


# --- a fixed calendar day ----------------------------------------------------------------------------------------


def test_all_points_burn_at_the_end_of_30_november_moscow_time() -> None:
    p = program({"every_year_on": "11-30"})
    end_of_november = datetime(2026, 12, 1, 0, 0, tzinfo=MSK)
    assert expires(p, utc(2026, 6, 15, 9, 0)) == end_of_november
    assert end_of_november == utc(2026, 11, 30, 21, 0)
    # Earned at 23:59 on 30 November, Moscow time: these points burn a minute later, with the rest.
    assert expires(p, utc(2026, 11, 30, 20, 59)) == end_of_november
    # Earned at midnight of 1 December, Moscow time (still 30 November in UTC): they last until next November.
    assert expires(p, utc(2026, 11, 30, 21, 0)) == datetime(2027, 12, 1, 0, 0, tzinfo=MSK)


def test_points_are_spendable_until_the_last_instant_of_30_november_and_not_at_midnight() -> None:
    p = program({"every_year_on": "11-30"})
    accrued = utc(2026, 6, 15, 9, 0)
    lot = Lot(1, 500, 500, accrued, expires(p, accrued))
    last_instant = datetime.combine(date(2026, 11, 30), time(23, 59, 59, 999999), MSK)
    assert lot.spendable_at(last_instant)
    assert not lot.spendable_at(datetime(2026, 12, 1, 0, 0, tzinfo=MSK))


def test_a_given_date_burns_at_its_end_in_the_program_time_zone() -> None:
    p = program({"on_date": "2026-11-30"})
    assert expires(p, utc(2026, 3, 10)) == datetime(2026, 12, 1, 0, 0, tzinfo=MSK)


@pytest.mark.parametrize(
    ("accrued", "burns_local"),
    [
        (utc(2026, 6, 1), datetime(2027, 3, 1, tzinfo=MSK)),  # 2027 has no 29 February: the 28th is the last day
        (utc(2027, 3, 1), datetime(2028, 3, 1, tzinfo=MSK)),  # 2028 has one
        (utc(2028, 2, 28), datetime(2028, 3, 1, tzinfo=MSK)),
    ],
)
def test_29_february_falls_back_to_the_28th_in_common_years(accrued: datetime, burns_local: datetime) -> None:
    p = program({"every_year_on": "02-29"})
    assert expires(p, accrued) == burns_local


def test_the_end_of_the_day_follows_daylight_saving_time() -> None:
    # Berlin: the end of 30 June is 22:00 UTC (summer time), the end of 30 November is 23:00 UTC.
    assert expires(program({"every_year_on": "06-30"}, timezone="Europe/Berlin"), utc(2026, 1, 5)) == utc(
        2026, 6, 30, 22
    )
    assert expires(program({"every_year_on": "11-30"}, timezone="Europe/Berlin"), utc(2026, 1, 5)) == utc(
        2026, 11, 30, 23
    )


def test_a_fixed_date_counted_from_unlock_keeps_late_pending_points_alive() -> None:
    # Bought on 20 November with a 14-day return window: the points unlock on 4 December. Counted from the
    # unlock, they burn at the end of next November, not before anyone could spend them.
    p = program({"every_year_on": "11-30", "starts": "available"}, pending_days=14)
    assert expires(p, utc(2026, 11, 20, 12, 0)) == datetime(2027, 12, 1, 0, 0, tzinfo=MSK)


@given(
    accrued=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC)),
    month_day=st.dates(min_value=date(2000, 1, 1), max_value=date(2000, 12, 31)),
    zone=st.sampled_from(["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Vladivostok", "UTC"]),
)
def test_a_yearly_date_burns_at_the_next_local_end_of_that_day(accrued: datetime, month_day: date, zone: str) -> None:
    p = program({"every_year_on": month_day.strftime("%m-%d")}, timezone=zone)
    burns = expires(p, accrued)
    assert burns is not None
    local = burns.astimezone(p.timezone)
    assert local.time() == time(0)
    last_day = local.date() - timedelta(days=1)
    expected = (month_day.month, month_day.day)
    assert (last_day.month, last_day.day) == expected or (
        expected == (2, 29) and (last_day.month, last_day.day) == (2, 28)
    )
    # The next such day: after the accrual, and within a year and a day of it.
    assert accrued < burns <= accrued + timedelta(days=367)


# --- on the quote ------------------------------------------------------------------------------------------------


def test_the_quote_tells_when_pending_points_unlock_and_when_they_burn() -> None:
    p = program({"after_days": 365}, pending_days=14)
    occurred = utc(2026, 3, 10, 12, 0)
    q = quote(p, Cart((CartLine("a", "s", None, 1, 1_000_000),), occurred), available=0, requested=0, is_member=True)
    assert q.points_to_earn == 500
    assert q.available_at == occurred + timedelta(days=14)
    assert q.expires_at == occurred + timedelta(days=365)


def test_pending_points_never_burn_before_they_unlock_with_a_yearly_date() -> None:
    """Bought on 20 November with 14 pending days: unlocks 4 December, so it burns at the end of NEXT November."""
    program = parse_program(
        {
            "name": "x",
            "timezone": "Europe/Moscow",
            "earning": {"pending_days": 14, "rules": [{"id": "base", "percent": 5}]},
            "expiry": {"every_year_on": "11-30"},
        }
    )
    bought = datetime(2026, 11, 20, 12, tzinfo=UTC)
    q = quote(program, Cart((CartLine("1", "a", None, 1, 100_000),), bought), available=0, requested=0, is_member=True)
    assert q.expires_at == datetime(2027, 12, 1, tzinfo=ZoneInfo("Europe/Moscow"))
    assert q.available_at < q.expires_at
