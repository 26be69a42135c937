"""Program versions: validate, publish, list, and the version in force at a date."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from loyalty.campaigns import publishing
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.http.schemas import InstantOrDate
from loyalty.program import service as programs
from loyalty.program.schemas import DocumentJsonSchema, ProgramDocument, ProgramVersion, ValidationResult
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1/program", tags=["program"], route_class=BodyRoute)


@router.post(
    "/validate",
    response_model=ValidationResult,
    summary="Validate a program document",
    description="Checks the document without publishing it; a bad one is 422 with each field's path.",
)
def validate(body: ProgramDocument, _: deps.Admin) -> dict[str, Any]:
    program = publishing.program_of(programs.read_document_json(body.document))
    return {
        "valid": True,
        "name": program.name,
        "rules": len(program.earning.rules),
        "actions": sorted(program.actions),
        "action_caps": {name: program.actions[name].cap_text() for name in sorted(program.actions)},
    }


@router.get(
    "/schema",
    response_model=DocumentJsonSchema,
    summary="The JSON Schema of a document",
    description="The JSON Schema (draft 2020-12) of the program document (`document=program`, the default: with "
    "the campaigns and offers it may keep), of a campaign or offer definition (`document=campaign`) or of a segment "
    "definition (`document=segment`), for editors "
    "to check and complete a document as it is written. Generated from the models that validate documents.",
)
def schema(
    _: deps.Admin,
    document: Annotated[str, Query(description=f"one of {sorted(publishing.DOCUMENT_SCHEMAS)}")] = "program",
) -> dict[str, Any]:
    return publishing.document_schema(document)


@router.post(
    "/versions",
    status_code=201,
    response_model=ProgramVersion,
    summary="Publish a program version",
    description="Publishes an immutable version in force from `effective_from`. Publishing the same "
    "document with the same date again returns the existing version.",
)
def publish(body: ProgramDocument, request: Request, key: deps.Admin) -> JSONResponse:
    now = deps.now(request)
    document = programs.read_document_json(body.document)
    zone = publishing.program_of(document).timezone
    start = parse_instant(body.effective_from, "effective_from", zone=zone) if body.effective_from else now

    def run(uow: UnitOfWork) -> dict[str, Any]:
        version = publishing.publish(uow, document, start, now)
        return {
            "version": version.number,
            "effective_from": version.effective_from.isoformat(),
            "name": version.program.name,
            "checksum": programs.checksum(document),
            "document": document,
        }

    return deps.idempotent(request, key, body.model_dump(), 201, run)


@router.get("/versions", response_model=list[ProgramVersion], summary="List program versions")
def versions(request: Request, _: deps.Admin) -> list[dict[str, Any]]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return programs.list_versions(uow)


@router.get(
    "/versions/current",
    response_model=ProgramVersion,
    summary="The version in force at an instant",
    description="The version that evaluates an order occurring at `at` (default: now), with its document.",
)
def current(
    request: Request,
    _: deps.Admin,
    at: Annotated[
        InstantOrDate | None,
        Query(description="ISO 8601 with an offset, or a date (the start of that day in the program's time zone)"),
    ] = None,
) -> dict[str, Any]:
    instant = parse_instant(at, "at", zone=deps.program_zone(request)) if at else deps.now(request)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        version = programs.version_at(uow, instant)
        full = programs.version(uow, version.number)
    return {
        "version": full.number,
        "effective_from": full.effective_from.isoformat(),
        "name": full.program.name,
        "document": full.document,
    }
