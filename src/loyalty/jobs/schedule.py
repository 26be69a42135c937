"""When the worker runs each job: a schedule per job, read as text (`daily 03:00` in the program's time zone,
`every 15m`, `every 2h`, `off`), and the scheduled instants ("slots") due between two moments.

A job runs as of its slot, not as of the moment a worker got round to it, so every worker computes the same slots
and the first to record a slot runs it. After a pause (no worker ran for a while) a job whose runs add up (expiry as
of today covers yesterday's) runs once, as of its latest slot; a job that acts on a day of its own (birthdays) runs
every slot it missed, up to MAX_CATCH_UP of them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from loyalty.core.errors import InvalidInput


@dataclass(frozen=True)
class Daily:
    at: time  # local time in the program's time zone

    def __str__(self) -> str:
        return f"daily {self.at.strftime('%H:%M')}"


@dataclass(frozen=True)
class Every:
    minutes: int

    def __str__(self) -> str:
        return f"every {self.minutes // 60}h" if self.minutes % 60 == 0 else f"every {self.minutes}m"


Schedule = Daily | Every | None  # None: off

DEFAULTS: dict[str, str] = {
    "activate": "every 15m",
    "expire": "daily 00:10",
    "expiry-warnings": "daily 10:00",
    "birthdays": "daily 09:00",
    "tiers": "daily 03:00",
    "segments": "daily 04:00",
    "win-back": "daily 11:00",
    "referrals": "every 1h",
}
CATCH_UP = frozenset({"birthdays"})
MAX_CATCH_UP = 31

_DAILY = re.compile(r"^daily ([01]\d|2[0-3]):([0-5]\d)$")
_EVERY = re.compile(r"^every ([1-9]\d{0,3})(m|h)$")


def parse(text: str, path: str) -> Schedule:
    """A schedule from its text; InvalidInput at `path` says what is accepted."""
    value = text.strip().lower()
    if value == "off":
        return None
    if match := _DAILY.match(value):
        return Daily(time(int(match[1]), int(match[2])))
    if match := _EVERY.match(value):
        minutes = int(match[1]) * (60 if match[2] == "h" else 1)
        if minutes > 24 * 60:
            raise InvalidInput.at(path, "an interval is at most 24h; use `daily HH:MM`")
        return Every(minutes)
    raise InvalidInput.at(path, "must be `daily HH:MM` (the program's time zone), `every <n>m`, `every <n>h` or `off`")


def describe(schedule: Schedule) -> str:
    return "off" if schedule is None else str(schedule)


def latest(schedule: Daily | Every, zone: tzinfo, now: datetime) -> datetime:
    """The last slot at or before `now`."""
    if isinstance(schedule, Every):
        step = schedule.minutes * 60
        seconds = int(now.timestamp())
        return datetime.fromtimestamp(seconds - seconds % step, UTC)
    local = now.astimezone(zone)
    slot = datetime.combine(local.date(), schedule.at, tzinfo=zone)
    if slot > local:
        slot = datetime.combine(local.date() - timedelta(days=1), schedule.at, tzinfo=zone)
    return slot.astimezone(UTC)


def previous(schedule: Daily | Every, zone: tzinfo, slot: datetime) -> datetime:
    """The slot before `slot`."""
    if isinstance(schedule, Every):
        return slot - timedelta(minutes=schedule.minutes)
    local = slot.astimezone(zone)
    return datetime.combine(local.date() - timedelta(days=1), schedule.at, tzinfo=zone).astimezone(UTC)


def due(schedule: Schedule, zone: tzinfo, last: datetime | None, now: datetime, *, catch_up: bool) -> list[datetime]:
    """The slots to run now, oldest first: none when the latest slot was already run (`last`, the latest slot
    recorded); else the latest, and with `catch_up` every slot missed since `last` (at most MAX_CATCH_UP)."""
    if schedule is None:
        return []
    newest = latest(schedule, zone, now)
    if last is not None and newest <= last:
        return []
    slots = [newest]
    if catch_up and last is not None:
        while len(slots) < MAX_CATCH_UP and (earlier := previous(schedule, zone, slots[-1])) > last:
            slots.append(earlier)
    return slots[::-1]
