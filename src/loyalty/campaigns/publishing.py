"""Publishing a program version: the version itself (program/service.py), then the campaigns and offers kept in
its file, applied to the campaign store in the same transaction (campaigns/service.py). It sits above both so
that the program knows nothing of campaigns, which read the program."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from loyalty.campaigns import offerings
from loyalty.campaigns import service as campaigns
from loyalty.campaigns.document import campaign_schema, check_kept, parse_campaign
from loyalty.campaigns.model import Campaign
from loyalty.campaigns.offerings import Book
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.program import service as programs
from loyalty.program.document import program_schema
from loyalty.program.model import Program, ProgramVersion
from loyalty.segments.document import definition_schema
from loyalty.segments.lists import references, resolve_references
from loyalty.storage.database import UnitOfWork

KEPT_SECTIONS = ("campaigns", "offers")


def program_of(document: dict[str, Any]) -> Program:
    """The program of a file to validate or publish, its kept campaigns and offers checked with it: every problem of
    the file is reported at once, with its path."""
    return programs.program_of(document, sections=(check_kept,))


def publish(uow: UnitOfWork, document: dict[str, Any], effective_from: datetime, now: datetime) -> ProgramVersion:
    """`programs.publish`, then apply the document's campaigns and offers: each runs by its own dates from now on.
    Applying an unchanged definition keeps its revision, so publishing the same document again changes nothing."""
    program_of(document)
    version = programs.publish(uow, document, effective_from, now)
    kept = {section: document[section] for section in KEPT_SECTIONS if document.get(section)}
    if kept:
        campaigns.apply(uow, kept, now)
    return version


def as_published(uow: UnitOfWork, document: dict[str, Any], program: Program) -> tuple[Book, dict[str, list[int]]]:
    """The campaigns and offers in force once `document` (whose `program` is checked) would be published, storing
    nothing: the stored ones, with those its file keeps in place of the stored ones of the same id or beside them,
    parsed in `program`'s time zone; and the members each offer of the file lists (for the simulator)."""
    kept: dict[str, Campaign] = {}
    listed: dict[str, list[int]] = {}
    problems: list[FieldProblem] = []
    for section, personal in (("campaigns", False), ("offers", True)):
        for i, item in enumerate(document.get(section) or []):
            campaign = parse_campaign(item, timezone=program.timezone, exponent=program.exponent, personal=personal)
            kept[campaign.id] = campaign
            members = item.get("audience", {}).get("members") if isinstance(item.get("audience"), dict) else None
            if isinstance(members, list):
                named = [{"member_id": r} if isinstance(r, int) and not isinstance(r, bool) else r for r in members]
                try:
                    listed[campaign.id] = resolve_references(uow, references(named, "audience.members"))
                except InvalidInput as error:
                    problems.extend(FieldProblem(f"{section}[{i}].{p.path}", p.reason) for p in error.problems)
    if problems:
        raise InvalidInput(problems)
    stored = {c.id: c for c in offerings.book(uow, program).campaigns}
    merged = {**stored, **kept}
    return offerings.book_of("as-published", [merged[i] for i in sorted(merged)]), listed


def program_file_schema() -> dict[str, Any]:
    """The JSON Schema of the program's file: the program document, its kept campaigns and offers described as
    campaign definitions."""
    schema = program_schema()
    campaign = campaign_schema()
    definitions = schema.setdefault("$defs", {})
    for name, definition in campaign.pop("$defs", {}).items():
        assert definitions.setdefault(name, definition) == definition, f"two definitions named {name}"
    definitions["CampaignDocument"] = {
        key: value for key, value in campaign.items() if key not in ("$schema", "examples")
    }
    for section, what in KEPT_SECTIONS_DESCRIBED.items():
        schema["properties"][section] = {
            "type": "array",
            "items": {"$ref": "#/$defs/CampaignDocument"},
            "description": what,
        }
    return schema


KEPT_SECTIONS_DESCRIBED = {
    "campaigns": "campaigns kept in the program's file, applied when it is published",
    "offers": "personal offers kept in the program's file (audience: segments or members), applied when it is published",
}

DOCUMENT_SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "program": program_file_schema,
    "campaign": campaign_schema,
    "segment": definition_schema,
}
"""The documents people write, by name, each with the function giving its JSON Schema."""


@cache
def document_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the document `name` (a key of DOCUMENT_SCHEMAS); the same every call, so built once."""
    build = DOCUMENT_SCHEMAS.get(name)
    if build is None:
        raise InvalidInput.at("document", f"must be one of {sorted(DOCUMENT_SCHEMAS)}, got {name!r}")
    return build()
