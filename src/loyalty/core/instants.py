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


def parse_instant(value: object, path: str, *, zone: Zone = UTC, day: Literal["start", "end"] = "start") -> datetime:
    """The instant `value` names. `zone` (or a function giving it, asked only for a bare date) is the program's
    time zone; `day` says which end of a bare date is meant. InvalidInput at `path` otherwise."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value.strip()) == 10:
        try:
            on = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput.at(path, f"{value!r} is not {EXPECTED}") from None
        local = zone if isinstance(zone, tzinfo) else zone()
        parsed = datetime.combine(on, time.max if day == "end" else time.min, local)
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
    try:
        in_range = EARLIEST <= parsed.astimezone(UTC) < LATEST
    except OverflowError:  # 0001-01-01T00:00+14:00 is before datetime.min in UTC
        in_range = False
    if not in_range:
        raise InvalidInput.at(path, f"must be between {EARLIEST.year} and {LATEST.year - 1}")
    return parsed


def parse_happened_at(value: object, path: str, now: datetime, *, zone: Zone = UTC) -> datetime:
    """When something happened (an order, a registration, an adjustment, an event): `parse_instant`, and not
    later than `now` give or take clock drift."""
    happened = parse_instant(value, path, zone=zone)
    if happened > now + FUTURE_SKEW:
        raise InvalidInput.at(path, f"is in the future (now is {now.astimezone(UTC).isoformat()})")
    return happened
