"""Days and months of a period in a time zone: cut at local midnights, clipped to the period, across clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from loyalty.analytics import periods

BERLIN = ZoneInfo("Europe/Berlin")


def hours(bucket: periods.Bucket) -> timedelta:
    """The time a bucket lasts (aware datetimes of one zone subtract as wall-clock times: go through UTC)."""
    return bucket.end.astimezone(UTC) - bucket.start.astimezone(UTC)


def test_a_day_of_a_clock_change_lasts_23_or_25_hours() -> None:
    days = periods.days(datetime(2026, 3, 28, tzinfo=BERLIN), datetime(2026, 3, 31, tzinfo=BERLIN), BERLIN)
    assert [d.label for d in days] == ["2026-03-28", "2026-03-29", "2026-03-30"]
    assert [hours(d) for d in days] == [timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)]
    autumn = periods.days(datetime(2026, 10, 25, tzinfo=BERLIN), datetime(2026, 10, 26, tzinfo=BERLIN), BERLIN)
    assert [hours(d) for d in autumn] == [timedelta(hours=25)]


def test_months_are_clipped_to_the_period() -> None:
    months = periods.months(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC), UTC)
    assert [(m.label, m.start.day, m.end.day) for m in months] == [
        ("2026-01", 15, 1),
        ("2026-02", 1, 1),
        ("2026-03", 1, 10),
    ]


@given(
    # hypothesis takes naive bounds and makes the values aware
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)),  # noqa: DTZ001
    st.integers(min_value=1, max_value=24 * 400),
)
def test_the_buckets_tile_the_period(start: datetime, hours: int) -> None:
    end = start + timedelta(hours=hours)
    for buckets in (periods.days(start, end, BERLIN), periods.months(start, end, BERLIN)):
        assert buckets[0].start == start
        assert buckets[-1].end == end
        assert all(a.end == b.start for a, b in pairwise(buckets))
        assert all(b.start < b.end for b in buckets)
        assert len({b.label for b in buckets}) == len(buckets)
