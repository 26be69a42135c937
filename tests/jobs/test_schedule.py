"""The worker's schedules, pure: reading them, the latest slot, and which slots are due after a pause."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.core.errors import InvalidInput
from loyalty.jobs import schedule
from loyalty.jobs.schedule import Daily, Every

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("daily 03:00", Daily(time(3, 0))),
        (" Daily 23:59 ", Daily(time(23, 59))),
        ("every 15m", Every(15)),
        ("every 2h", Every(120)),
        ("every 24h", Every(1440)),
        ("off", None),
    ],
)
def test_schedules_read_as_written(text: str, read: schedule.Schedule) -> None:
    assert schedule.parse(text, "tiers") == read
    assert schedule.parse(schedule.describe(read), "tiers") == read


@pytest.mark.parametrize("text", ["daily 24:00", "daily 3:00", "every 0m", "every 25h", "hourly", "", "every 15s"])
def test_a_schedule_that_cannot_be_read_is_refused_naming_the_job(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        schedule.parse(text, "tiers")
    assert refused.value.problems[0].path == "tiers"


def test_a_daily_slot_is_in_the_programs_time_zone() -> None:
    three = Daily(time(3, 0))
    # 01:00 UTC is 04:00 in Moscow: today's 03:00 Moscow (00:00 UTC) has passed.
    assert schedule.latest(three, MOSCOW, datetime(2026, 12, 1, 1, 0, tzinfo=UTC)) == datetime(
        2026, 12, 1, 0, 0, tzinfo=UTC
    )
    # 23:30 UTC on the 30th is 02:30 Moscow on the 1st: the latest 03:00 is the 30th's.
    assert schedule.latest(three, MOSCOW, datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == datetime(
        2026, 11, 30, 0, 0, tzinfo=UTC
    )


def test_an_interval_slot_is_aligned() -> None:
    assert schedule.latest(Every(15), UTC, datetime(2026, 12, 1, 10, 44, 59, tzinfo=UTC)) == datetime(
        2026, 12, 1, 10, 30, tzinfo=UTC
    )


def test_a_slot_already_run_is_not_due_again() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    slot = schedule.latest(Daily(time(9, 0)), UTC, now)
    assert schedule.due(Daily(time(9, 0)), UTC, slot, now, catch_up=False) == []
    assert schedule.due(None, UTC, None, now, catch_up=False) == []


def test_after_a_pause_a_cumulative_job_runs_once_and_birthdays_run_every_missed_day() -> None:
    nine = Daily(time(9, 0))
    last = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert schedule.due(nine, UTC, last, now, catch_up=False) == [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]
    assert schedule.due(nine, UTC, last, now, catch_up=True) == [
        datetime(2026, 11, day, 9, 0, tzinfo=UTC) for day in (28, 29, 30)
    ] + [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]
    long_ago = now - timedelta(days=400)
    assert len(schedule.due(nine, UTC, long_ago, now, catch_up=True)) == schedule.MAX_CATCH_UP


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),  # noqa: DTZ001 (hypothesis's bounds are naive)
    st.sampled_from([Daily(time(0, 10)), Daily(time(23, 50)), Every(15), Every(60), Every(7)]),
)
def test_the_latest_slot_is_at_or_before_now_and_a_slot_of_its_own(now: datetime, when: Daily | Every) -> None:
    slot = schedule.latest(when, MOSCOW, now)
    assert slot <= now
    assert schedule.latest(when, MOSCOW, slot) == slot
    before = schedule.previous(when, MOSCOW, slot)
    assert before < slot
    assert schedule.latest(when, MOSCOW, slot - timedelta(microseconds=1)) == before
    if isinstance(when, Daily):  # on the clock it names, in the program's zone (DST changes included)
        assert slot.astimezone(MOSCOW).time() == when.at
