"""Uploaded member lists (static segments): references by member id or any identifier, resolved in bulk, every
unknown or malformed one reported with its path and reason."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.members.service import IDENTIFIER_KINDS, normalise_identifier
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

REFERENCE_KINDS = ("member_id", *IDENTIFIER_KINDS)
LOOKUP_CHUNK = 500  # values per IN (...) list


@dataclass(frozen=True)
class MemberReference:
    """One member named by `kind` (member_id, phone, email, card, external_id); `path` says where it was given
    (``members[3].phone``, ``line 4.email``)."""

    path: str
    kind: str
    value: object


def _normalised(reference: MemberReference) -> str | int:
    if reference.kind not in REFERENCE_KINDS:
        raise InvalidInput.at(reference.path, f"unknown reference; expected one of {list(REFERENCE_KINDS)}")
    if reference.kind != "member_id":
        return normalise_identifier(reference.kind, reference.value, reference.path)
    value = reference.value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**18:
        raise InvalidInput.at(reference.path, "must be a member id: a positive integer")
    return value


def references(value: object, path: str) -> list[MemberReference]:
    """The member references of a JSON list at `path`, each `{member_id}`, `{phone}`, `{email}`, `{card}` or
    `{external_id}`; InvalidInput naming every malformed one."""
    if not isinstance(value, list) or not value:
        raise InvalidInput.at(path, "must be a non-empty list of members, each {member_id}, {phone}, ...")
    problems, found = [], []
    for i, ref in enumerate(value):
        if not isinstance(ref, dict) or len(ref) != 1:
            reason = "must name the member by exactly one of member_id, phone, email, card, external_id"
            problems.append(FieldProblem(f"{path}[{i}]", reason))
            continue
        ((kind, ident),) = ref.items()
        found.append(MemberReference(f"{path}[{i}].{kind}", kind, ident))
    if problems:
        raise InvalidInput(problems)
    return found


def resolve_references(uow: UnitOfWork, references: list[MemberReference]) -> list[int]:
    """The distinct member ids the references name, ascending; InvalidInput listing every reference that is
    malformed or names no member (nothing is resolved partly)."""
    problems: list[FieldProblem] = []
    wanted: dict[str, dict[str | int, list[MemberReference]]] = {}
    for reference in references:
        try:
            value = _normalised(reference)
        except InvalidInput as error:
            problems.extend(error.problems)
            continue
        wanted.setdefault(reference.kind, {}).setdefault(value, []).append(reference)
    found: set[int] = set()
    for kind, values in wanted.items():
        known = _lookup(uow, kind, list(values))
        for value, refs in values.items():
            if value in known:
                found.add(known[value])
            else:
                problems.extend(FieldProblem(r.path, f"no member with {kind} {r.value}") for r in refs)
    if problems:
        raise InvalidInput(sorted(problems, key=lambda p: _order(p.path)))
    return sorted(found)


def _order(path: str) -> tuple[int, str]:
    """Problems in the order of the list: by the number in the path (index or line), then the path."""
    digits = "".join(c if c.isdigit() else " " for c in path).split()
    return (int(digits[0]) if digits else -1, path)


def _lookup(uow: UnitOfWork, kind: str, values: list[str | int]) -> dict[str | int, int]:
    known: dict[str | int, int] = {}
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = values[start : start + LOOKUP_CHUNK]
        if kind == "member_id":
            query = select(t.members.c.member_id, t.members.c.member_id).where(t.members.c.member_id.in_(chunk))
        else:
            ids = t.member_identifiers
            query = select(ids.c.value, ids.c.member_id).where(ids.c.kind == kind, ids.c.value.in_(chunk))
        known.update({key: int(member_id) for key, member_id in uow.conn.execute(query)})
    return known


def read_references(path: Path) -> list[MemberReference]:
    """The references in a CSV with a header naming one or more of member_id, phone, email, card, external_id;
    each row names its member in exactly one non-empty column. InvalidInput lists every bad line."""
    problems: list[FieldProblem] = []
    references: list[MemberReference] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [c for c in reader.fieldnames or [] if c is not None]
        unknown = [c for c in header if c not in REFERENCE_KINDS]
        if not header or unknown:
            raise InvalidInput.at(
                "line 1",
                f"the header must name columns among {list(REFERENCE_KINDS)}"
                + (f"; unknown column(s) {unknown}" if unknown else ""),
            )
        for row in reader:
            given = {k: (v or "").strip() for k, v in row.items() if k in REFERENCE_KINDS and (v or "").strip()}
            if len(given) != 1:
                problems.append(
                    FieldProblem(f"line {reader.line_num}", "must name the member in exactly one column of the row")
                )
                continue
            ((kind, value),) = given.items()
            references.append(MemberReference(f"line {reader.line_num}.{kind}", kind, value))
    if problems:
        raise InvalidInput(problems)
    if not references:
        raise InvalidInput.at("line 2", "the file lists no members")
    return references
