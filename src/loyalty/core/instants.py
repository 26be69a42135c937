"""Instants as every door receives them (HTTP bodies and queries, command-line options, CSV columns): one parser,
one rule for values without an offset.

- A date-time carries its offset (`2026-11-23T12:00:00+03:00`, or `Z`). One without is refused: a till's
  clock, the server's and UTC would each read it differently, and a guess would move points by hours.
- A bare date (`2026-11-23`) is that day in the program's time zone: its first instant for when something
  happened or takes effect, its last for a job run "as of" that day.
- Instants outside the years 1900-2999 are refused; "when it happened" is refused more than a few minutes
  after now (clocks drift, the future has not happened)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from loyalty.core.errors import InvalidInput

FUTURE_SKEW = timedelta(minutes=5)
# Instants outside these years are refused: dates near datetime's limits overflow when moved to UTC or when a
# pending period or an expiry is added to them.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
EXPECTED = "an ISO 8601 date-time with an offset, such as 2026-11-23T12:00:00+03:00, or a date such as 2026-11-23"

Zone = tzinfo | Callable[[], tzinfo]


def read_instant(value: object, path: str) -> datetime | date:
    """What `value` names, before any time zone is applied: a date-time with its offset, within the years
    1900-2999, or a bare date (a `date`, to be placed in the program's time zone by `instant_at`). A `datetime`
    passes as it is. InvalidInput at `path` otherwise."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput.at(path, f"{value!r} is not {EXPECTED}") from None
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput.at(path, f"{value!r} is not {EXPECTED}") from None
    else:
        raise InvalidInput.at(path, f"must be {EXPECTED}")
    if parsed.tzinfo is None:
        raise InvalidInput.at(
            path, "a date-time must carry its time zone offset, such as +03:00 or Z (or give a bare date)"
        )
    return _in_range(parsed, path)


def instant_at(
    value: datetime | date, path: str, *, zone: Zone = UTC, day: Literal["start", "end"] = "start"
) -> datetime:
    """The instant a value of `read_instant` names: a date-time as it is; a bare date at the start or end (`day`)
    of that day in `zone`, the program's time zone (or a function giving it, asked only here)."""
    if isinstance(value, datetime):
        return value
    local = zone if isinstance(zone, tzinfo) else zone()
    return _in_range(datetime.combine(value, time.max if day == "end" else time.min, local), path)


def _in_range(parsed: datetime, path: str) -> datetime:
    try:
        in_range = EARLIEST <= parsed.astimezone(UTC) < LATEST
    except OverflowError:  # 0001-01-01T00:00+14:00 is before datetime.min in UTC
        in_range = False
    if not in_range:
        raise InvalidInput.at(path, f"must be between {EARLIEST.year} and {LATEST.year - 1}")
    return parsed


def parse_instant(value: object, path: str, *, zone: Zone = UTC, day: Literal["start", "end"] = "start") -> datetime:
    """The instant `value` names. `zone` (or a function giving it, asked only for a bare date) is the program's
    time zone; `day` says which end of a bare date is meant. InvalidInput at `path` otherwise."""
    return instant_at(read_instant(value, path), path, zone=zone, day=day)


def happened_at(value: datetime | date, path: str, now: datetime, *, zone: Zone = UTC) -> datetime:
    """When something happened, from a value of `read_instant`: `instant_at`, and not later than `now` give or
    take clock drift."""
    happened = instant_at(value, path, zone=zone)
    if happened > now + FUTURE_SKEW:
        raise InvalidInput.at(path, f"is in the future (now is {now.astimezone(UTC).isoformat()})")
    return happened


def parse_happened_at(value: object, path: str, now: datetime, *, zone: Zone = UTC) -> datetime:
    """When something happened (an order, a registration, an adjustment, an event): `parse_instant`, and not
    later than `now` give or take clock drift."""
    return happened_at(read_instant(value, path), path, now, zone=zone)
