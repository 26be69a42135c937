"""What a point is worth, and in which currency and time zone figures are read: the program version in force."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

JUST_BEFORE = timedelta(microseconds=1)


def program_before(uow: UnitOfWork, end: datetime) -> Program:
    """The program in force at the last instant before `end` (a period's end, an as-of instant is not part of
    what it closes); for an instant before the first version, that version. NoProgram when nothing was published."""
    try:
        return programs.version_at(uow, end - JUST_BEFORE).program
    except programs.NoProgram:
        first = uow.conn.execute(select(func.min(t.program_versions.c.number))).scalar_one()
        if first is None:
            raise
        return programs.version(uow, first).program


class PointValues:
    """The minor units one point is worth under each version, and under the version in force at an instant; each
    version read once."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._numbers = programs.versions_in_force(uow)
        self._by_version: dict[int, int] = {}

    def of_version(self, number: int | None, fallback: datetime) -> int:
        """The point value of version `number`; of the version in force before `fallback` when it is None."""
        if number is None:
            return self.before(fallback)
        if number not in self._by_version:
            self._by_version[number] = programs.version(self._uow, number).program.point_value
        return self._by_version[number]

    def before(self, end: datetime) -> int:
        """The point value in force at the last instant before `end` (the first version's before any)."""
        number = self._numbers(end - JUST_BEFORE)
        return program_before(self._uow, end).point_value if number is None else self.of_version(number, end)
