"""Webhook endpoints (admin), the delivery log with replay (admin), and the outbox's events (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from loyalty.core import limits
from loyalty.core.events import EventKind
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.messaging import dispatch, outbox, webhooks
from loyalty.messaging.model import Channel, DeliveryStatus
from loyalty.messaging.schemas import (
    Delivery,
    DeliveryPage,
    Endpoint,
    EndpointChange,
    EndpointList,
    EventKinds,
    EventPage,
    NewEndpoint,
    RemovedEndpoint,
    Replayed,
    ReplayRange,
)
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1", tags=["messaging"], route_class=BodyRoute)
EndpointId = Annotated[str, Path(pattern=limits.id_pattern(limits.ENDPOINT_ID), description="The endpoint's id")]
Cursor = Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="`next_cursor` of the page before")]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _input(body: NewEndpoint | EndpointChange) -> webhooks.EndpointInput:
    return webhooks.EndpointInput(
        url=body.url,
        kinds=[k.value for k in body.kinds] if body.kinds is not None else None,
        secret=body.secret,
        enabled=body.enabled,
        description=body.description,
    )


@router.post(
    "/webhooks",
    status_code=201,
    response_model=Endpoint,
    summary="Add a webhook endpoint",
    description="Events of the kinds it names (all when none) are POSTed to `url`, signed the Standard Webhooks way "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature`). Without `secret` one is made and returned in this "
    "answer only; it is never shown again. An id already taken is 409.",
)
def add_endpoint(body: NewEndpoint, request: Request, _: deps.Admin) -> JSONResponse:
    with UnitOfWork(deps.engine(request)) as uow:
        created = webhooks.create(uow, body.endpoint_id, _input(body), deps.now(request))
        uow.commit()
    return JSONResponse(created, status_code=201)


@router.get("/webhooks", response_model=EndpointList, summary="List webhook endpoints")
def list_endpoints(request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return {"endpoints": webhooks.list_endpoints(uow)}


@router.get("/webhooks/{endpoint_id}", response_model=Endpoint, summary="Get a webhook endpoint")
def get_endpoint(endpoint_id: EndpointId, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return webhooks.get(uow, endpoint_id)


@router.patch(
    "/webhooks/{endpoint_id}",
    response_model=Endpoint,
    summary="Change a webhook endpoint",
    description="Changes the fields given. A disabled endpoint gets no new deliveries, and its pending ones die.",
)
def change_endpoint(endpoint_id: EndpointId, body: EndpointChange, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        changed = webhooks.change(uow, endpoint_id, _input(body), deps.now(request))
        uow.commit()
    return changed


@router.delete(
    "/webhooks/{endpoint_id}",
    response_model=RemovedEndpoint,
    summary="Remove a webhook endpoint",
    description="Its deliveries not yet made are given up (dead, 'endpoint removed'); the delivery log stays.",
)
def remove_endpoint(endpoint_id: EndpointId, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        removed = webhooks.remove(uow, endpoint_id, deps.now(request))
        uow.commit()
    return removed


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    summary="List deliveries",
    description="The delivery log, oldest first, filtered by state, channel, endpoint (target), member or event.",
)
def list_deliveries(
    request: Request,
    _: deps.Admin,
    status: DeliveryStatus | None = None,
    channel: Channel | None = None,
    target: Annotated[str | None, Query(max_length=limits.ENDPOINT_ID)] = None,
    member_id: Annotated[int | None, Query(ge=1, le=10**18)] = None,
    event_id: Annotated[int | None, Query(ge=1, le=10**18)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    where = dispatch.DeliveryFilter(status, channel, target, member_id, event_id)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        page = dispatch.deliveries(uow, where, after=int(cursor) if cursor else None, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return {"deliveries": page, "next_cursor": str(page[-1]["delivery_id"]) if more else None}


DeliveryId = Annotated[int, Path(ge=1, le=10**18, description="The delivery's id")]


@router.get("/deliveries/{delivery_id}", response_model=Delivery, summary="Get a delivery and its attempts")
def get_delivery(delivery_id: DeliveryId, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return dispatch.delivery(uow, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=Delivery,
    summary="Send a delivery again",
    description="Makes it pending, due now, whatever became of it (delivered, dead, skipped); the worker sends it on "
    "its next pass with the same `webhook-id`. One being sent right now is 422.",
)
def replay_delivery(delivery_id: DeliveryId, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        replayed = dispatch.replay(uow, delivery_id, deps.now(request))
        uow.commit()
    return replayed


@router.post(
    "/deliveries/replay",
    response_model=Replayed,
    summary="Send the deliveries of a time range again",
    description="Every delivery created in [from, to) matching the filters becomes pending, due now (e.g. an "
    "endpoint's dead deliveries while it was down).",
)
def replay_range(body: ReplayRange, request: Request, _: deps.Admin) -> dict[str, Any]:
    zone = deps.program_zone(request)
    where = dispatch.DeliveryFilter(
        status=body.status,
        channel=body.channel,
        target=body.target,
        created_from=parse_instant(body.from_, "from", zone=zone, day="start"),
        created_to=parse_instant(body.to, "to", zone=zone, day="start"),
    )
    with UnitOfWork(deps.engine(request)) as uow:
        replayed = dispatch.replay_range(uow, where, deps.now(request))
        uow.commit()
    return {"replayed": replayed}


@router.get(
    "/events",
    response_model=EventPage,
    summary="List events",
    description="The outbox: what use cases recorded, oldest first, by kind or member; `dispatched_at` says when the "
    "dispatcher handed it to its consumers.",
)
def list_events(
    request: Request,
    _: deps.Admin,
    kind: Annotated[list[EventKind] | None, Query(max_length=len(EventKind))] = None,
    member_id: Annotated[int | None, Query(ge=1, le=10**18)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        page = outbox.events(
            uow, after=int(cursor) if cursor else None, kinds=kind, member_id=member_id, limit=limit + 1
        )
    more = len(page) > limit
    page = page[:limit]
    return {"events": page, "next_cursor": str(page[-1]["event_id"]) if more else None}


@router.get("/events/kinds", response_model=EventKinds, summary="List the kinds of events")
def event_kinds(_: deps.Admin) -> dict[str, Any]:
    return EventKinds.all()
