"""Webhook endpoints, the delivery log and the outbox over HTTP."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.core.events import DESCRIPTIONS, EventKind
from loyalty.core.fields import enum_text
from loyalty.http.schemas import Instant, InstantOrDate, Strict
from loyalty.messaging.model import Channel, DeliveryStatus
from loyalty.messaging.rules import Conditions, Purpose, Trigger

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


_DELIVERY: dict[str, Any] = {
    "delivery_id": 7,
    "event_id": 1042,
    "member_id": 42,
    "channel": "webhook",
    "target": "crm",
    "status": "pending",
    "attempts": 1,
    "next_attempt_at": "2026-11-30T10:00:41+00:00",
    "last_attempt_at": "2026-11-30T10:00:12+00:00",
    "status_code": 503,
    "error": "HTTP 503",
    "response": "Service Unavailable",
    "created_at": "2026-11-30T10:00:11+00:00",
    "delivered_at": None,
}
_EVENT: dict[str, Any] = {
    "event_id": 1042,
    "kind": "points.earned",
    "member_id": 42,
    "occurred_at": "2026-11-30T10:00:00+00:00",
    "recorded_at": "2026-11-30T10:00:00+00:00",
    "data": {"order_id": "A-1001", "points": 150, "balance": 1250, "available_at": "2026-12-14T10:00:00+00:00"},
    "dispatched_at": "2026-11-30T10:00:01+00:00",
}
_TEMPLATE: dict[str, Any] = {
    "template_id": "earned-sms",
    "channel": "sms",
    "name": "Points earned",
    "wordings": {"ru": {"text": "{{ name }}, вам начислено {{ points_earned | points }}"}},
    "created_at": "2026-11-30T10:00:00+00:00",
    "updated_at": "2026-11-30T10:00:00+00:00",
}
_TRIGGER: dict[str, Any] = {
    "trigger_id": "expiring-7d",
    "event": "points.expiring",
    "channel": "sms",
    "template_id": "expiring-sms",
    "purpose": "transactional",
    "conditions": {},
    "delay_minutes": 0,
    "before_expiry_days": 7,
    "enabled": True,
    "created_at": "2026-11-30T10:00:00+00:00",
    "updated_at": "2026-11-30T10:00:00+00:00",
}


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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "endpoint_id": "crm",
                    "url": "https://crm.shop.example/hooks/loyalty",
                    "kinds": ["points.earned"],
                    "enabled": True,
                    "description": "CRM",
                    "created_at": "2026-11-30T10:00:00+00:00",
                    "updated_at": "2026-11-30T10:00:00+00:00",
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "endpoints": [
                        {
                            "endpoint_id": "crm",
                            "url": "https://crm.shop.example/hooks/loyalty",
                            "kinds": [],
                            "enabled": True,
                            "description": None,
                            "created_at": "2026-11-30T10:00:00+00:00",
                            "updated_at": "2026-11-30T10:00:00+00:00",
                        }
                    ]
                }
            ]
        }
    )

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
    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"deliveries": [_DELIVERY], "next_cursor": None}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT]})

    event_id: int
    kind: EventKind
    member_id: int | None
    occurred_at: Instant
    recorded_at: Instant
    data: dict[str, Any]
    dispatched_at: Instant | None


class EventPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"events": [_EVENT], "next_cursor": "1042"}]})

    events: list[Event]
    next_cursor: str | None


class EventKindView(BaseModel):
    kind: EventKind
    description: str


class EventKinds(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kinds": [{"kind": "points.earned", "description": "Points were credited for an order or an action."}]}
            ]
        }
    )

    kinds: list[EventKindView]

    @classmethod
    def all(cls) -> dict[str, Any]:
        return {"kinds": [{"kind": k.value, "description": DESCRIPTIONS[k]} for k in EventKind]}


# Messages

TemplateId = EndpointId
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")]
Channels = Annotated[Literal["email", "sms"], Field(description="email | sms")]


class SmtpChannel(Strict):
    host: Annotated[str, Field(min_length=1, max_length=255)]
    port: Annotated[int, Field(ge=1, le=65535)]
    from_address: Annotated[str, Field(min_length=3, max_length=limits.IDENTIFIER)]
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: Annotated[str, Field(max_length=limits.IDENTIFIER)] | None = None
    password: Annotated[str, Field(max_length=limits.WEBHOOK_SECRET)] | None = Field(
        None, description="Write-only: shown as ******** once set; leave it out (or send ********) to keep it"
    )
    reply_to: Annotated[str, Field(max_length=limits.IDENTIFIER)] | None = None
    timeout: Annotated[int, Field(ge=1, le=300)] = 30
    local_hostname: Annotated[str, Field(max_length=255)] | None = None


class SmsChannel(Strict):
    url: Url
    method: Literal["POST", "GET"] = "POST"
    headers: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=20, description="Values are write-only (an auth header): shown as ********"
    )
    query: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=20, description="Query fields; `{phone}`, `{text}`, `{sender}` are filled in"
    )
    body: Annotated[str, Field(max_length=10_000)] | None = Field(
        None, description="A JSON body whose string values may hold `{phone}`, `{phone_digits}`, `{text}`, `{sender}`"
    )
    form: dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=20
    )
    sender: Annotated[str, Field(max_length=50)] = ""
    timeout: Annotated[int, Field(ge=1, le=120)] = 10


class ChannelView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "sms",
                    "settings": {
                        "url": "https://sms.example/v1/send",
                        "method": "POST",
                        "headers": {"Authorization": "********"},
                    },
                }
            ]
        }
    )

    channel: Literal["email", "sms"]
    settings: dict[str, Any]


class QuietHoursIn(Strict):
    from_: Clock = Field(alias="from")
    to: Clock
    channels: list[Channels] = Field(default=["sms"], max_length=2)

    model_config = ConfigDict(populate_by_name=True)


class CapIn(Strict):
    count: Annotated[int, Field(ge=0, le=1000)]
    per: Literal["day", "week"]


class PolicyIn(Strict):
    quiet_hours: QuietHoursIn | None = Field(None, description="Local to the program's time zone")
    caps: dict[Channels, CapIn] = Field(default_factory=dict, description="Most messages per member and channel")
    transactional_needs_consent: bool = False
    default_language: Literal["ru", "en"] = "ru"
    public_url: Url | None = Field(None, description="This API's public address, for unsubscribe and tracking links")
    tracking: bool = Field(True, description="Open pixel and click links in HTML emails (needs public_url)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "quiet_hours": {"from": "21:00", "to": "09:00", "channels": ["sms"]},
                    "caps": {"sms": {"count": 1, "per": "day"}, "email": {"count": 3, "per": "week"}},
                    "public_url": "https://loyalty.shop.example",
                }
            ]
        }
    )

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class PolicyView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "quiet_hours": {"from": "21:00", "to": "09:00", "channels": ["sms"]},
                    "caps": {"sms": {"count": 1, "per": "day"}},
                    "transactional_needs_consent": False,
                    "default_language": "ru",
                    "public_url": "https://loyalty.shop.example",
                    "tracking": True,
                }
            ]
        }
    )

    quiet_hours: dict[str, Any] | None
    caps: dict[str, Any]
    transactional_needs_consent: bool
    default_language: str
    public_url: str | None
    tracking: bool


class WordingIn(Strict):
    subject: Annotated[str, Field(max_length=limits.MESSAGE_SUBJECT)] | None = None
    html: Annotated[str, Field(max_length=limits.MESSAGE_HTML)] | None = None
    text: Annotated[str, Field(min_length=1, max_length=limits.MESSAGE_TEXT)]


class TemplateIn(Strict):
    channel: Channels
    name: Annotated[str, Field(min_length=1, max_length=limits.NAME)]
    wordings: dict[Literal["ru", "en"], WordingIn] = Field(min_length=1, description="A wording per language")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "sms",
                    "name": "Points earned",
                    "wordings": {
                        "ru": {
                            "text": "{{ name }}, вам начислено {{ points_earned | points }}. Баланс: {{ balance | points }}"
                        },
                        "en": {
                            "text": "{{ name }}, you earned {{ points_earned | points }}. Balance: {{ balance | points }}"
                        },
                    },
                }
            ]
        }
    )


class TemplateView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_TEMPLATE]})

    template_id: str
    channel: str
    name: str
    wordings: dict[str, Any]
    created_at: Instant
    updated_at: Instant


class TemplateList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"templates": [_TEMPLATE]}]})

    templates: list[TemplateView]


class PreviewIn(Strict):
    member_id: Annotated[int, Field(ge=1, le=10**18)] | None = Field(None, description="Default: the sample member")
    language: Literal["ru", "en"] | None = None


class PreviewView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "template_id": "earned-sms",
                    "channel": "sms",
                    "language": "ru",
                    "subject": None,
                    "html": None,
                    "text": "Анна, вам начислено 150 баллов",
                }
            ]
        }
    )

    template_id: str
    channel: str
    language: str
    subject: str | None
    html: str | None
    text: str


class ConditionsIn(Strict):
    tiers: list[Annotated[str, Field(max_length=limits.TIER_ID)]] = Field(default_factory=list, max_length=50)
    segments: list[Annotated[str, Field(max_length=limits.SEGMENT_ID)]] = Field(default_factory=list, max_length=50)
    min_balance: Annotated[int, Field(ge=0, le=10**12)] | None = None
    min_points: Annotated[int, Field(ge=0, le=10**12)] | None = None


class TriggerIn(Strict):
    event: Kind
    channel: Channels
    template_id: TemplateId
    purpose: Literal["marketing", "transactional"] = "marketing"
    conditions: ConditionsIn = Field(default_factory=ConditionsIn)
    delay_minutes: Annotated[int, Field(ge=0, le=366 * 24 * 60)] = Field(
        0, description="Sent this long after the event"
    )
    before_expiry_days: Annotated[int, Field(ge=0, le=365)] | None = Field(
        None, description="points.expiring only: sent this many days before the points expire"
    )
    enabled: bool = True

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event": "points.expiring",
                    "channel": "sms",
                    "template_id": "expiring-sms",
                    "purpose": "transactional",
                    "before_expiry_days": 7,
                }
            ]
        }
    )


def trigger_of(trigger_id: str, body: TriggerIn) -> Trigger:
    """The trigger a request (or a file) describes."""
    c = body.conditions
    return Trigger(
        trigger_id=trigger_id,
        event=body.event,
        channel=Channel(body.channel),
        template_id=body.template_id,
        purpose=Purpose(body.purpose),
        conditions=Conditions(tuple(c.tiers), tuple(c.segments), c.min_balance, c.min_points),
        delay_minutes=body.delay_minutes,
        before_expiry_days=body.before_expiry_days,
        enabled=body.enabled,
    )


class TriggerView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_TRIGGER]})

    trigger_id: str
    event: str
    channel: str
    template_id: str
    purpose: str
    conditions: dict[str, Any]
    delay_minutes: int
    before_expiry_days: int | None
    enabled: bool
    created_at: Instant
    updated_at: Instant


class TriggerList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"triggers": [_TRIGGER]}]})

    triggers: list[TriggerView]


class Unsubscribed(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"member_id": 42, "consent": "email", "granted": False}]})

    member_id: int
    consent: str
    granted: bool
