"""When a campaign runs, as its definition gives it: the dates or instants it starts and ends (a date is a day in
the program's time zone, given in the validation context), the days of the week and the hours of the day."""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, PlainValidator, ValidationInfo, WithJsonSchema, model_validator

from loyalty.campaigns.model import WEEKDAYS
from loyalty.core.validation import DocumentModel, Loc, fail, refuse

_EARLIEST = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
_LATEST = datetime(9000, 1, 1, tzinfo=ZoneInfo("UTC"))
INSTANT_SCHEMA = {
    "type": "string",
    "description": "a date (2026-11-01, a day in the program's time zone) or a date-time with an offset",
    "examples": ["2026-11-01", "2026-11-01T10:00:00+03:00"],
}


def _instant(value: object, info: ValidationInfo, *, end: bool) -> datetime:
    """Dates without a time are days in the program's time zone: a start from the beginning of that day, an end
    through its end."""
    timezone = (info.context or {}).get("timezone", ZoneInfo("UTC"))
    if isinstance(value, str) and len(value) == 10:
        try:
            value = date.fromisoformat(value)
        except ValueError:
            fail(f"{value!r} is not an ISO 8601 date (2026-11-01) or date-time with an offset")
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value + timedelta(days=1) if end else value, time(0), timezone)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            fail(f"{value!r} is not an ISO 8601 date (2026-11-01) or date-time with an offset")
    if not isinstance(value, datetime):
        fail("must be an ISO 8601 date (2026-11-01) or date-time with an offset")
    if value.tzinfo is None:
        fail("a date-time must carry a time zone offset, such as +03:00 or Z")
    if not _EARLIEST <= value < _LATEST:
        fail("must be between the years 2000 and 9000")
    return value


def starts_at(value: object, info: ValidationInfo) -> datetime:
    return _instant(value, info, end=False)


def ends_at(value: object, info: ValidationInfo) -> datetime | None:
    return None if value is None else _instant(value, info, end=True)


def days_of_week(value: object) -> frozenset[int]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not value:
        fail(f"must be a non-empty list of {list(WEEKDAYS)}")
    days: set[int] = set()
    problems: list[tuple[Loc, str]] = []
    for i, day in enumerate(value):
        if isinstance(day, str) and day.lower()[:3] in WEEKDAYS:
            days.add(WEEKDAYS.index(day.lower()[:3]) + 1)
        elif isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
            days.add(day)
        else:
            problems.append(((i,), f"must be one of {list(WEEKDAYS)} or 1 (Monday) to 7, got {day!r}"))
    if problems:
        refuse(problems)
    return frozenset(days)


def _clock(value: object) -> time:
    if value == "24:00":
        return time(0)
    clock = None
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        with suppress(ValueError):
            clock = time.fromisoformat(value)
    if clock is None:
        fail(f"must be a time of day as HH:MM, got {value!r}")
    return clock


Clock = Annotated[time, PlainValidator(_clock), WithJsonSchema({"type": "string", "pattern": r"^\d{2}:\d{2}$"})]


class HoursDoc(DocumentModel):
    start: Clock = Field(alias="from", description="the time of day the campaign starts applying, HH:MM")
    end: Clock = Field(alias="to", description="the time of day it stops (before start: past midnight), HH:MM")

    @model_validator(mode="after")
    def _differ(self) -> HoursDoc:
        if self.start == self.end:
            refuse([(("to",), "must differ from hours.from")])
        return self
