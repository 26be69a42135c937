"""Webhook endpoints, the delivery log and the outbox over HTTP."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.core.events import DESCRIPTIONS, EventKind
from loyalty.core.fields import enum_text
from loyalty.http.schemas import Instant, InstantOrDate, Strict
from loyalty.messaging.model import Channel, DeliveryStatus

EndpointId = Annotated[
    str, Field(pattern=limits.id_pattern(limits.ENDPOINT_ID), description="Lower-case letters, digits, '_', '-', '.'")
]
Url = Annotated[str, Field(min_length=1, max_length=limits.URL, description="An absolute http:// or https:// URL")]
Secret = Annotated[
    str,
    Field(
        min_length=1,
        max_length=limits.WEBHOOK_SECRET,
        description="A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes. Write-only.",
    ),
]
Kind = Annotated[EventKind, enum_text(EventKind)]
Kinds = Annotated[list[Kind], Field(max_length=len(EventKind), description="The event kinds it gets; [] or none: all")]


class NewEndpoint(Strict):
    endpoint_id: EndpointId
    url: Url
    kinds: Kinds | None = None
    secret: Secret | None = Field(None, description="Default: a new secret, in the answer this once")
    enabled: bool = True
    description: Annotated[str, Field(max_length=limits.NAME)] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"endpoint_id": "crm", "url": "https://crm.example.com/hooks/loyalty", "kinds": ["points.earned"]}
            ]
        }
    )


class EndpointChange(Strict):
    url: Url | None = None
    kinds: Kinds | None = None
    secret: Secret | None = Field(None, description="A new secret: signs every request from now on, retries too")
    enabled: bool | None = None
    description: Annotated[str, Field(max_length=limits.NAME)] | None = None


class Endpoint(BaseModel):
    endpoint_id: str
    url: str
    kinds: list[str]
    enabled: bool
    description: str | None
    created_at: Instant
    updated_at: Instant
    secret: str | None = Field(
        None, description="Only in the answer that created the endpoint, when the secret was made"
    )


class EndpointList(BaseModel):
    endpoints: list[Endpoint]


class RemovedEndpoint(Endpoint):
    deliveries_given_up: int = Field(description="Its deliveries not yet made, now dead with 'endpoint removed'")


class AttemptView(BaseModel):
    attempt: int
    at: Instant
    outcome: Literal["delivered", "retry", "dead", "skipped"]
    status_code: int | None
    error: str | None
    response: str | None = Field(description="The start of the receiver's answer (1,000 characters)")
    duration_ms: int


class Delivery(BaseModel):
    delivery_id: int
    event_id: int
    member_id: int | None
    channel: Channel
    target: str = Field(description="The endpoint's (or trigger's) id")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: Instant | None = Field(description="When pending: not before")
    last_attempt_at: Instant | None
    status_code: int | None
    error: str | None
    response: str | None
    created_at: Instant
    delivered_at: Instant | None
    log: list[AttemptView] | None = Field(None, description="Every attempt (one delivery's view)")


class DeliveryPage(BaseModel):
    deliveries: list[Delivery]
    next_cursor: str | None


class ReplayRange(Strict):
    from_: InstantOrDate = Field(alias="from", description="Deliveries created from this instant (a date: its start)")
    to: InstantOrDate = Field(description="...until this one, excluded")
    status: Annotated[DeliveryStatus, enum_text(DeliveryStatus)] | None = None
    channel: Annotated[Channel, enum_text(Channel)] | None = None
    target: EndpointId | None = None

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [{"from": "2026-11-30", "to": "2026-12-01", "target": "crm", "status": "dead"}]},
    )


class Replayed(BaseModel):
    replayed: int = Field(description="Deliveries made pending again, due now")


class Event(BaseModel):
    event_id: int
    kind: EventKind
    member_id: int | None
    occurred_at: Instant
    recorded_at: Instant
    data: dict[str, Any]
    dispatched_at: Instant | None


class EventPage(BaseModel):
    events: list[Event]
    next_cursor: str | None


class EventKindView(BaseModel):
    kind: EventKind
    description: str


class EventKinds(BaseModel):
    kinds: list[EventKindView]

    @classmethod
    def all(cls) -> dict[str, Any]:
        return {"kinds": [{"kind": k.value, "description": DESCRIPTIONS[k]} for k in EventKind]}
