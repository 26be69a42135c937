"""Publishing program versions and finding the one in force at an instant."""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, null, select
from sqlalchemy.sql import ColumnElement

from loyalty.core import documents, limits
from loyalty.core.errors import Conflict, FieldProblem, InvalidInput
from loyalty.core.events import Event, EventKind
from loyalty.program.document import parse_program
from loyalty.program.kept_sections import SectionCheck
from loyalty.program.model import Program, ProgramVersion
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

# Versions never change once published, so a parsed version can be shared by every transaction of the process.
_parsed: dict[str, Program] = {}


class NoProgram(Conflict):
    kind = "no-program"


def read_document(text: str, source: str = "document") -> dict[str, Any]:
    """The mapping in a YAML or JSON text (JSON is YAML), bounded and checked as `documents` says."""
    return documents.read_text(text, source)


def read_document_json(document: dict[str, Any]) -> dict[str, Any]:
    """A document received as JSON, already parsed at the door (once), normalised like a file's."""
    return documents.read_value(document)


def read_document_file(path: Path) -> dict[str, Any]:
    if path.stat().st_size > limits.MAX_DOCUMENT_BYTES:
        raise InvalidInput(FieldProblem("", f"{path} is larger than {limits.MAX_DOCUMENT_BYTES} bytes"))
    return read_document(path.read_text(encoding="utf-8"), str(path))


def checksum(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def program_of(
    document: dict[str, Any], digest: str | None = None, *, sections: Sequence[SectionCheck] = ()
) -> Program:
    """The program of a document, parsed once per checksum; with `sections` (a file being validated or published)
    it is parsed afresh, since those checks depend on more than the document."""
    if sections:
        return parse_program(document, sections=sections)
    digest = digest or checksum(document)
    program = _parsed.get(digest)
    if program is None:
        program = _parsed[digest] = parse_program(document)
    return program


def publish(uow: UnitOfWork, document: dict[str, Any], effective_from: datetime, now: datetime) -> ProgramVersion:
    """Publish `document` as a new version in force from `effective_from`.

    Versions are immutable and ordered by their dates: a version cannot take effect before the latest one
    already published. Publishing the same document with the same date again returns the existing version.
    """
    program = program_of(document)
    digest = checksum(document)
    if effective_from.tzinfo is None:
        raise InvalidInput.at("effective_from", "must carry a time zone offset")
    latest = uow.conn.execute(select(t.program_versions).order_by(t.program_versions.c.number.desc()).limit(1)).first()
    if latest is not None:
        if latest.checksum == digest and latest.effective_from == effective_from:
            return ProgramVersion(latest.number, latest.effective_from, program, latest.document)
        if effective_from < latest.effective_from:
            raise InvalidInput.at(
                "effective_from",
                f"must not be before {latest.effective_from.isoformat()}, when version {latest.number} takes effect",
            )
    number = (latest.number if latest else 0) + 1
    uow.conn.execute(
        t.program_versions.insert().values(
            number=number, effective_from=effective_from, published_at=now, checksum=digest, document=document
        )
    )
    stamps.renew(uow, stamps.PROGRAM)
    data = {"version": number, "effective_from": effective_from.isoformat(), "name": program.name}
    uow.emit(Event(EventKind.TERMS_CHANGED, None, now, data), now)
    return ProgramVersion(number, effective_from, program, document)


def version_at(uow: UnitOfWork, at: datetime) -> ProgramVersion:
    """The version in force at `at`: the latest to take effect at or before it (the highest number among those
    taking effect at the same instant)."""
    schedule = _schedule(uow)
    last = bisect_right(schedule.starts, at)
    if not last:
        raise NoProgram(f"no program version is in force at {at.isoformat()}; publish one first")
    number, digest, effective_from = schedule.versions[last - 1]
    return version(uow, number, digest, effective_from)


@dataclass(frozen=True)
class _Schedule:
    """Every published version's number, checksum and start, ordered as `version_at` chooses among them."""

    starts: list[datetime]
    versions: list[tuple[int, str, datetime]]


# Versions are only ever added, each with a new program stamp, so the schedule one stamp showed stays true: the
# checkout finds the version in force without a read of its own (it reads the stamp along with the account).
_schedules: dict[tuple[str, str], _Schedule] = {}


def _schedule(uow: UnitOfWork) -> _Schedule:
    stamp = stamps.get(uow, stamps.PROGRAM)
    key = (str(uow.conn.engine.url), stamp or "")
    schedule = _schedules.get(key) if stamp is not None else None
    if schedule is None:
        rows = uow.conn.execute(_SCHEDULE).all()
        schedule = _Schedule([r.effective_from for r in rows], [(r.number, r.checksum, r.effective_from) for r in rows])
        if stamp is None:  # a database nothing was published to since it was created or emptied: nothing to keep
            return schedule
        if len(_schedules) > 16:
            _schedules.clear()
        _schedules[key] = schedule
    return schedule


_SCHEDULE = select(
    t.program_versions.c.number, t.program_versions.c.effective_from, t.program_versions.c.checksum
).order_by(t.program_versions.c.effective_from, t.program_versions.c.number)


def versions_in_force(uow: UnitOfWork) -> Callable[[datetime], int | None]:
    """The number of the version in force at any instant (None before the first): for a job that records entries
    at many instants. Picks the version `version_at` would."""
    schedule = _schedule(uow)

    def number_at(at: datetime) -> int | None:
        last = bisect_right(schedule.starts, at)
        return schedule.versions[last - 1][0] if last else None

    return number_at


def versions_in_force_sql(uow: UnitOfWork, at: ColumnElement[datetime]) -> ColumnElement[Any]:
    """`versions_in_force` as an SQL expression of the instants in `at` (a column): for a set-based job that
    records entries at many instants in one statement. The latest start at or before the instant wins, and among
    versions starting at the same instant the highest number, as `version_at` chooses."""
    schedule = _schedule(uow)
    if not schedule.versions:
        return null()
    # Tested from the last start back: the first start an instant reaches is the one bisect_right would find.
    return case(*((at >= start, number) for number, _, start in reversed(schedule.versions)), else_=null())


def time_zone(uow: UnitOfWork, at: datetime) -> tzinfo:
    """The program's time zone, in which a bare date is read: the version in force at `at`'s, else the first
    version's (nothing is in force yet), else UTC (nothing is published)."""
    schedule = _schedule(uow)
    if not schedule.versions:
        return UTC
    last = bisect_right(schedule.starts, at)
    number, digest, effective_from = schedule.versions[last - 1] if last else min(schedule.versions)
    return version(uow, number, digest, effective_from).program.timezone


def lazy_time_zone(engine: Engine, now: datetime) -> Callable[[], tzinfo]:
    """`time_zone` as of `now`, read the first time it is asked for (only a bare date needs it), then kept."""
    found: list[tzinfo] = []

    def zone() -> tzinfo:
        if not found:
            with UnitOfWork(engine, read_only=True) as uow:
                found.append(time_zone(uow, now))
        return found[0]

    return zone


def version(
    uow: UnitOfWork, number: int, digest: str | None = None, effective_from: datetime | None = None
) -> ProgramVersion:
    program = _parsed.get(digest or "")
    if program is None or effective_from is None:
        row = uow.conn.execute(select(t.program_versions).where(t.program_versions.c.number == number)).first()
        if row is None:
            raise NoProgram(f"no program version {number}")
        return ProgramVersion(row.number, row.effective_from, program_of(row.document, row.checksum), row.document)
    return ProgramVersion(number, effective_from, program, {})


def list_versions(uow: UnitOfWork) -> list[dict[str, Any]]:
    rows = uow.conn.execute(select(t.program_versions).order_by(t.program_versions.c.number))
    return [
        {
            "version": r.number,
            "effective_from": r.effective_from.isoformat(),
            "published_at": r.published_at.isoformat(),
            "name": r.document.get("name"),
            "checksum": r.checksum,
        }
        for r in rows
    ]
