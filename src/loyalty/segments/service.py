"""Segments: define them, recompute their members as of an instant, list them and their members, and find the
segments a member is in (what campaigns and offers aim at).

A rule segment's members are recomputed from every member's facts (one streamed, set-based statement, see
segment_facts) whenever its definition changes, on demand, and by the `segments recompute` job; each segment's
members are replaced in one transaction. A static segment is a list of members uploaded once; the job leaves it
as it is. Every definition is validated whole first: a bad one is refused with each field's path and reason,
and nothing is stored."""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Row, select

from loyalty.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.segments.document import Reading, check_segment, read_conditions
from loyalty.segments.facts import member_facts
from loyalty.segments.lists import MemberReference, references, resolve_references
from loyalty.segments.model import AsOf, SegmentDefinition
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

KINDS = ("rule", "static")
T = TypeVar("T")
INSERT_ROWS = 5000


def _program_at(uow: UnitOfWork, at: datetime) -> Program | None:
    try:
        return programs.version_at(uow, at).program
    except programs.NoProgram:
        return None


def _known_tiers(uow: UnitOfWork, now: datetime) -> frozenset[str] | None:
    """The tier ids of the program in force at `now` and of the versions scheduled after it (None: no tiers)."""
    rows = uow.conn.execute(select(t.program_versions.c.number, t.program_versions.c.effective_from))
    in_force = _program_at(uow, now)
    numbers = [r.number for r in rows if r.effective_from > now]
    tiers: set[str] = set()
    found = False
    for program in [in_force, *(programs.version(uow, n).program for n in numbers)]:
        if program is not None and program.tiers is not None:
            found = True
            tiers.update(level.id for level in program.tiers.levels)
    return frozenset(tiers) if found else None


def _definition(uow: UnitOfWork, conditions: object, now: datetime) -> None:
    """Validate conditions against the program in force (its currency's decimals, its tiers)."""
    program = _program_at(uow, now)
    read_conditions(conditions, Reading(program.exponent if program else 2, _known_tiers(uow, now)))


def _stored_definition(uow: UnitOfWork, row: Row[Any], as_of: datetime) -> SegmentDefinition:
    program = _program_at(uow, as_of)
    exponent = program.exponent if program is not None else 2
    return read_conditions(row.definition.get("conditions"), Reading(exponent, check_tiers=False))


def _read_spec(uow: UnitOfWork, kind: str, data: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[int]]:
    """The definition to store and, for a static segment, its members (InvalidInput with every problem)."""
    if kind == "rule":
        if data.get("members") is not None:
            raise InvalidInput.at("members", "a rule segment has conditions; members are for static segments")
        if "\\u0000" in json.dumps(data.get("conditions"), default=str):
            raise InvalidInput.at("conditions", "must not contain NUL characters")
        _definition(uow, data.get("conditions"), now)
        return {"conditions": data["conditions"]}, []
    if data.get("conditions") is not None:
        raise InvalidInput.at("conditions", "a static segment has a list of members, not conditions")
    return {}, resolve_references(uow, references(data.get("members"), "members"))


def _collect(problems: list[FieldProblem], check: Callable[[], T]) -> T | None:
    try:
        return check()
    except InvalidInput as error:
        problems.extend(error.problems)
        return None


def create(uow: UnitOfWork, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A new segment (`segment_id`, `name`, `kind` rule|static, and `conditions` or `members`) with its members
    computed as of `now`. An id already taken is a conflict; a bad definition stores nothing."""
    problems: list[FieldProblem] = []
    named = _collect(problems, lambda: check_segment(data.get("segment_id"), data.get("name")))
    kind = data.get("kind") or "rule"
    if kind not in KINDS:
        problems.append(FieldProblem("kind", f"must be one of {list(KINDS)}, got {kind!r}"))
    spec = _collect(problems, lambda: _read_spec(uow, kind, data, now)) if kind in KINDS else None
    if problems or named is None or spec is None:
        raise InvalidInput(problems)
    return _insert(uow, *named, kind, *spec, now)


def _insert(
    uow: UnitOfWork,
    segment_id: str,
    name: str,
    kind: str,
    definition: dict[str, Any],
    listed: list[int],
    now: datetime,
) -> dict[str, Any]:
    if _row(uow, segment_id) is not None:
        raise Conflict(f"segment {segment_id} already exists; change it with PUT /v1/segments/{segment_id}")
    uow.conn.execute(
        t.segments.insert().values(
            segment_id=segment_id,
            name=name,
            kind=kind,
            definition=definition,
            member_count=0,
            created_at=now,
            updated_at=now,
        )
    )
    return _fill(uow, segment_id, kind, listed, now)


def update(uow: UnitOfWork, segment_id: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Rename a segment and replace its conditions (recomputing its members as of `now`) or its member list.
    A segment keeps its kind; a bad definition changes nothing; a change without conditions or members (a rename)
    keeps the definition and the members as last computed."""
    row = _row(uow, segment_id, lock=True)
    if row is None:
        raise NotFound(f"no segment {segment_id}")
    if (data.get("kind") or row.kind) != row.kind:
        raise InvalidInput.at("kind", f"segment {segment_id} is a {row.kind} segment; create a new one instead")
    if data.get("conditions") is None and data.get("members") is None:
        return _rename(uow, segment_id, data.get("name") or row.name, now)
    problems: list[FieldProblem] = []
    named = _collect(problems, lambda: check_segment(segment_id, data.get("name") or row.name))
    spec = _collect(problems, lambda: _read_spec(uow, row.kind, data, now))
    if problems or named is None or spec is None:
        raise InvalidInput(problems)
    definition, listed = spec
    uow.conn.execute(
        t.segments.update()
        .where(t.segments.c.segment_id == segment_id)
        .values(name=named[1], definition=definition, updated_at=now)
    )
    return _fill(uow, segment_id, row.kind, listed, now)


def _rename(uow: UnitOfWork, segment_id: str, name: str, now: datetime) -> dict[str, Any]:
    _, checked = check_segment(segment_id, name)
    uow.conn.execute(
        t.segments.update().where(t.segments.c.segment_id == segment_id).values(name=checked, updated_at=now)
    )
    return get(uow, segment_id)


def _fill(uow: UnitOfWork, segment_id: str, kind: str, listed: list[int], now: datetime) -> dict[str, Any]:
    if kind == "static":
        _replace_members(uow, segment_id, listed, now)
        return get(uow, segment_id)
    return recompute_one(uow, segment_id, now)


def _row(uow: UnitOfWork, segment_id: str, *, lock: bool = False) -> Row[Any] | None:
    query = select(t.segments).where(t.segments.c.segment_id == segment_id)
    return uow.conn.execute(query.with_for_update() if lock else query).first()


def _view(row: Row[Any]) -> dict[str, Any]:
    return {
        "segment_id": row.segment_id,
        "name": row.name,
        "kind": row.kind,
        "conditions": row.definition.get("conditions") if row.kind == "rule" else None,
        "member_count": row.member_count,
        "computed_at": row.computed_at.isoformat() if row.computed_at else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def get(uow: UnitOfWork, segment_id: str) -> dict[str, Any]:
    row = _row(uow, segment_id)
    if row is None:
        raise NotFound(f"no segment {segment_id}")
    return _view(row)


def list_segments(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every segment with its member count, by id."""
    return [_view(r) for r in uow.conn.execute(select(t.segments).order_by(t.segments.c.segment_id))]


def members_of(uow: UnitOfWork, segment_id: str, *, after: int | None = None, limit: int = 100) -> list[int]:
    """A page of a segment's member ids in ascending order, after the id `after`."""
    get(uow, segment_id)
    sm = t.segment_members
    query = select(sm.c.account_id).where(sm.c.segment_id == segment_id)
    if after is not None:
        query = query.where(sm.c.account_id > after)
    return [int(v) for v in uow.conn.execute(query.order_by(sm.c.account_id).limit(limit)).scalars()]


def segments_of(uow: UnitOfWork, member_id: int) -> list[str]:
    """The ids of the segments the member is in, as last computed (one account's rows: a sharded lookup)."""
    sm = t.segment_members
    query = select(sm.c.segment_id).where(sm.c.account_id == member_id).order_by(sm.c.segment_id)
    return [str(v) for v in uow.conn.execute(query).scalars()]


def _evaluate(uow: UnitOfWork, definitions: dict[str, SegmentDefinition], as_of: datetime) -> dict[str, array[int]]:
    """Each segment's member ids as of `as_of`, from one pass over every member's facts."""
    program = _program_at(uow, as_of)
    at = AsOf(as_of, program.timezone if program is not None else ZoneInfo("UTC"))
    found: dict[str, array[int]] = {segment_id: array("q") for segment_id in definitions}
    if not definitions:
        return found
    for facts in member_facts(uow, as_of, program):
        for segment_id, definition in definitions.items():
            if definition.matches(facts, at):
                found[segment_id].append(facts.member_id)
    return found


def _replace_members(uow: UnitOfWork, segment_id: str, member_ids: Iterable[int], as_of: datetime) -> int:
    sm = t.segment_members
    uow.conn.execute(sm.delete().where(sm.c.segment_id == segment_id))
    count, batch = 0, []
    for member_id in member_ids:
        batch.append({"account_id": member_id, "segment_id": segment_id})
        if len(batch) >= INSERT_ROWS:
            uow.conn.execute(sm.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        uow.conn.execute(sm.insert(), batch)
        count += len(batch)
    uow.conn.execute(
        t.segments.update().where(t.segments.c.segment_id == segment_id).values(member_count=count, computed_at=as_of)
    )
    return count


def recompute_one(uow: UnitOfWork, segment_id: str, as_of: datetime) -> dict[str, Any]:
    """Recompute one rule segment's members as of `as_of`, in the caller's transaction (a static segment is
    left as it is). Running it again as of the same instant changes nothing."""
    row = _row(uow, segment_id, lock=True)
    if row is None:
        raise NotFound(f"no segment {segment_id}")
    if row.kind == "rule":
        found = _evaluate(uow, {segment_id: _stored_definition(uow, row, as_of)}, as_of)
        _replace_members(uow, segment_id, sorted(set(found[segment_id])), as_of)
    return get(uow, segment_id)


def recompute(engine: Engine, as_of: datetime, segment_ids: list[str] | None = None) -> dict[str, int]:
    """The job: every rule segment (or those named) recomputed as of `as_of` from one read of every member's
    facts, then each segment's members replaced in a transaction of its own. A segment whose definition changed
    meanwhile is skipped: the change recomputed it already."""
    # Reading streams rows through a server-side cursor on PostgreSQL, which lives in a transaction; on SQLite a
    # read-only unit of work keeps the write lock free for the checkout while every member is read.
    with UnitOfWork(engine, read_only=engine.dialect.name == "sqlite") as uow:
        query = select(t.segments).where(t.segments.c.kind == "rule").order_by(t.segments.c.segment_id)
        if segment_ids is not None:
            query = query.where(t.segments.c.segment_id.in_(segment_ids))
        rows = {r.segment_id: r for r in uow.conn.execute(query)}
        missing = sorted(set(segment_ids or ()) - set(rows))
        if missing:
            raise NotFound(f"no rule segment {', '.join(missing)}")
        found = _evaluate(uow, {sid: _stored_definition(uow, r, as_of) for sid, r in rows.items()}, as_of)
    counts = {"segments": 0, "members": 0, "skipped": 0}
    for segment_id, row in rows.items():
        with UnitOfWork(engine) as uow:
            current = _row(uow, segment_id, lock=True)
            if current is None or current.updated_at != row.updated_at:
                counts["skipped"] += 1
                continue
            counts["members"] += _replace_members(uow, segment_id, found[segment_id], as_of)
            uow.commit()
        counts["segments"] += 1
    return counts


def import_static(
    uow: UnitOfWork, segment_id: str, name: str | None, references: list[MemberReference], now: datetime
) -> dict[str, Any]:
    """Create a static segment from a list of member references, or replace the members of an existing one
    (and rename it when `name` is given). Any unknown reference refuses the whole list."""
    row = _row(uow, segment_id, lock=True)
    problems: list[FieldProblem] = []
    named = _collect(problems, lambda: check_segment(segment_id, name or (row.name if row else segment_id)))
    listed = _collect(problems, lambda: resolve_references(uow, references))
    if problems or named is None or listed is None:
        raise InvalidInput(problems)
    if row is None:
        return _insert(uow, *named, "static", {}, listed, now)
    if row.kind != "static":
        raise Conflict(f"segment {segment_id} is a rule segment; its members come from its conditions")
    uow.conn.execute(
        t.segments.update().where(t.segments.c.segment_id == segment_id).values(name=named[1], updated_at=now)
    )
    _replace_members(uow, segment_id, listed, now)
    return get(uow, segment_id)
