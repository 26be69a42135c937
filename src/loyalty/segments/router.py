"""Segments: define them (admin), read them and their members (analytics or admin), recompute on demand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from loyalty.core import limits
from loyalty.core.errors import InvalidInput
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.http.errors import ApiError
from loyalty.members import service as members
from loyalty.segments import service as segments
from loyalty.segments.schemas import (
    MemberSegments,
    NewSegment,
    RecomputeRequest,
    RecomputeResult,
    Segment,
    SegmentChange,
    SegmentList,
    SegmentMemberPage,
)
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1", tags=["segments"], route_class=BodyRoute)
SegmentId = Annotated[str, Path(pattern=limits.id_pattern(limits.SEGMENT_ID), description="The segment's id")]


@router.post(
    "/segments",
    status_code=201,
    response_model=Segment,
    summary="Create a segment",
    description="A rule segment (`conditions`, all of which must hold) has its members computed at once; a static "
    "segment is the list of `members` given (every unknown one is reported, and nothing is stored). A bad "
    "definition is 422 with each field's path; an id already taken is 409. Accepts an `Idempotency-Key` header.",
)
def create_segment(body: NewSegment, request: Request, key: deps.Admin) -> JSONResponse:
    data, now = body.as_dict(), deps.now(request)
    return deps.idempotent(request, key, data, 201, lambda uow: segments.create(uow, data, now))


@router.put(
    "/segments/{segment_id}",
    response_model=Segment,
    summary="Change a segment",
    description="Renames it and replaces a rule segment's conditions (its members are recomputed now) or a static "
    "segment's members. Every field is optional: a body with only `name` renames the segment and keeps its "
    "definition and members. A segment keeps its kind. Accepts an `Idempotency-Key` header.",
)
def update_segment(segment_id: SegmentId, body: SegmentChange, request: Request, key: deps.Admin) -> JSONResponse:
    data, now = body.as_dict(), deps.now(request)
    return deps.idempotent(request, key, data, 200, lambda uow: segments.update(uow, segment_id, data, now))


@router.get(
    "/segments",
    response_model=SegmentList,
    summary="List segments",
    description="Every segment with its member count and the instant it was computed as of.",
)
def list_segments(request: Request, _: deps.Analytics) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return {"segments": segments.list_segments(uow)}


@router.get("/segments/{segment_id}", response_model=Segment, summary="Get a segment")
def get_segment(segment_id: SegmentId, request: Request, _: deps.Analytics) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return segments.get(uow, segment_id)


@router.get(
    "/segments/{segment_id}/members",
    response_model=SegmentMemberPage,
    summary="List a segment's members",
    description="In ascending member id, as last computed. Pass `next_cursor` back as `cursor` for the next page.",
)
def segment_members(
    segment_id: SegmentId,
    request: Request,
    _: deps.Analytics,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        page = segments.members_of(uow, segment_id, after=int(cursor) if cursor else None, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return {
        "segment_id": segment_id,
        "members": [{"member_id": m} for m in page],
        "next_cursor": str(page[-1]) if more else None,
    }


@router.post(
    "/segments/recompute",
    response_model=RecomputeResult,
    summary="Recompute every rule segment",
    description="The job `loyalty segments recompute` runs: one read of every member's facts, then each segment's "
    "members replaced in a transaction of its own. Running it again as of the same instant changes nothing.",
)
def recompute_all(request: Request, _: deps.Admin, body: RecomputeRequest | None = None) -> dict[str, Any]:
    as_of = _as_of(request, body)
    return {"as_of": as_of.isoformat(), **segments.recompute(deps.engine(request), as_of)}


@router.post(
    "/segments/{segment_id}/recompute",
    response_model=Segment,
    summary="Recompute a segment",
    description="Recomputes a rule segment's members as of `as_of` (default: now) in one transaction; a static "
    "segment is left as it is. Accepts an `Idempotency-Key` header.",
)
def recompute_segment(
    segment_id: SegmentId, request: Request, key: deps.Admin, body: RecomputeRequest | None = None
) -> JSONResponse:
    as_of = _as_of(request, body)
    return deps.idempotent(
        request,
        key,
        body.model_dump() if body else {},  # a retry without as_of replays, though "now" has moved on
        200,
        lambda uow: segments.recompute_one(uow, segment_id, as_of),
    )


def _as_of(request: Request, body: RecomputeRequest | None) -> datetime:
    if body is None or body.as_of is None:
        return deps.now(request)
    return parse_instant(body.as_of, "as_of", zone=deps.program_zone(request), day="end")


@router.get(
    "/members/{member_id}/segments",
    response_model=MemberSegments,
    summary="List the segments a member is in",
    description="As last computed.",
)
def member_segments(member_id: deps.MemberId, request: Request, _: deps.Analytics) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        try:
            members.profile(uow, member_id)
        except InvalidInput:
            raise ApiError(404, "not-found", "Not found", f"no member {member_id}") from None
        return {"member_id": member_id, "segments": segments.segments_of(uow, member_id)}
