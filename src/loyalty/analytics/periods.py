"""Calendar buckets of a period in the program's time zone, and the SQL that puts an instant into its bucket.

A period [start, end) is cut at each local midnight (days) or at each first of a month (months) in the zone; the
first and last buckets are clipped to the period, so a period starting mid-month has a short first month. A bucket
is numbered by its position, 0 for the first.

The SQL is a balanced tree of `CASE` comparisons against the boundaries (a dozen comparisons for ten years of
days), the same on SQLite and PostgreSQL: no date functions, whose spelling and time-zone rules differ between the
two. Instants outside the period fall in no bucket (-1); queries filter them out anyway."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, case, literal

from loyalty.storage.tables import UTCDateTime


@dataclass(frozen=True)
class Bucket:
    """One bucket: its label (a local date, or "YYYY-MM" for a month), first instant and end (not included)."""

    label: str
    start: datetime
    end: datetime


def days(start: datetime, end: datetime, zone: tzinfo) -> list[Bucket]:
    """The local days of [start, end), clipped to the period."""
    cuts = _cuts(start, end, zone, lambda d: d + timedelta(days=1), lambda d: d)
    return [Bucket(first.astimezone(zone).date().isoformat(), first, last) for first, last in cuts]


def months(start: datetime, end: datetime, zone: tzinfo) -> list[Bucket]:
    """The local calendar months of [start, end), clipped to the period."""
    cuts = _cuts(start, end, zone, _next_month, lambda d: d.replace(day=1))
    return [Bucket(first.astimezone(zone).strftime("%Y-%m"), first, last) for first, last in cuts]


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _cuts(start: datetime, end: datetime, zone: tzinfo, step: Any, floor: Any) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the local midnights `step` goes through from `floor` of start's local date."""
    cuts = [start]
    day = step(floor(start.astimezone(zone).date()))
    while (cut := _midnight(day, zone)) < end:
        if cut > cuts[-1]:
            cuts.append(cut)
        day = step(day)
    return list(zip(cuts, [*cuts[1:], end], strict=True))


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The instant a local day starts, in UTC (a midnight a clock change skips is read with the offset before the
    change, as zoneinfo reads any wall time that does not exist)."""
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def bucket_of(column: ColumnElement[datetime], buckets: Sequence[Bucket]) -> ColumnElement[int]:
    """The number of the bucket `column` falls in, as SQL (-1 outside them): a balanced tree of comparisons."""
    if not buckets:
        return literal(-1)
    bounds = [b.start for b in buckets]
    inside = _tree(column, bounds, 0, len(bounds))
    return case((column < _at(bounds[0]), -1), (column >= _at(buckets[-1].end), -1), else_=inside)


def _tree(column: ColumnElement[datetime], bounds: list[datetime], low: int, high: int) -> ColumnElement[int]:
    """The bucket among bounds[low:high] for an instant known to be at or after bounds[low]."""
    if high - low == 1:
        return literal(low)
    middle = (low + high) // 2
    return case(
        (column < _at(bounds[middle]), _tree(column, bounds, low, middle)), else_=_tree(column, bounds, middle, high)
    )


def _at(instant: datetime) -> ColumnElement[datetime]:
    return literal(instant, UTCDateTime())
