"""Webhook endpoints (admin), the delivery log with replay (admin), and the outbox's events (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from loyalty.core import limits
from loyalty.core.errors import NotFound
from loyalty.core.events import EventKind
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.messaging import dispatch, messages, outbox, tracking, webhooks
from loyalty.messaging.model import Channel, DeliveryStatus
from loyalty.messaging.schemas import (
    ChannelView,
    Delivery,
    DeliveryPage,
    Endpoint,
    EndpointChange,
    EndpointList,
    EventKinds,
    EventPage,
    NewEndpoint,
    PolicyIn,
    PolicyView,
    PreviewIn,
    PreviewView,
    RemovedEndpoint,
    Replayed,
    ReplayRange,
    SmsChannel,
    SmtpChannel,
    TemplateIn,
    TemplateList,
    TemplateView,
    TriggerIn,
    TriggerList,
    TriggerView,
    Unsubscribed,
    trigger_of,
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


# Messages: channels, rules of contact, templates, triggers


@router.put(
    "/messaging/channels/email",
    response_model=ChannelView,
    summary="Configure email (SMTP)",
    description="The relay messages go through. The password is write-only: the answer shows ******** for it; leave it "
    "out (or send ********) to keep the stored one. Settings that could not work (an unknown security) are 422.",
)
def put_email_channel(body: SmtpChannel, request: Request, _: deps.Admin) -> dict[str, Any]:
    return _put_channel(request, Channel.EMAIL, body.model_dump(exclude_none=True))


@router.put(
    "/messaging/channels/sms",
    response_model=ChannelView,
    summary="Configure SMS (an HTTP gateway)",
    description="Any provider plugs in by description: its URL, method, headers (an auth header: values are "
    "write-only), and a JSON body or form or query fields where `{phone}`, `{phone_digits}`, `{text}` and `{sender}` "
    "are filled in. See the README, Messaging.",
)
def put_sms_channel(body: SmsChannel, request: Request, _: deps.Admin) -> dict[str, Any]:
    return _put_channel(request, Channel.SMS, body.model_dump(exclude_none=True))


def _put_channel(request: Request, channel: Channel, config: dict[str, Any]) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        view = messages.set_channel(uow, channel, config)
        uow.commit()
    return view


@router.get("/messaging/channels/{channel}", response_model=ChannelView, summary="Get a channel's settings")
def get_channel(channel: Literal["email", "sms"], request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return messages.channel_view(uow, Channel(channel))


@router.put(
    "/messaging/policy",
    response_model=PolicyView,
    summary="Set the rules of contact",
    description="Quiet hours (local to the program's time zone: a message due inside them waits until they end), "
    "frequency caps per member and channel (over a cap a message is skipped, with the reason in the log), whether "
    "transactional messages need consent too, the default language, and the public address links point to.",
)
def put_policy(body: PolicyIn, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        view = messages.set_policy(uow, body.as_dict())
        uow.commit()
    return view


@router.get("/messaging/policy", response_model=PolicyView, summary="Get the rules of contact")
def get_policy(request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return messages.policy_view(uow)


TemplatePath = Annotated[str, Path(pattern=limits.id_pattern(limits.ENDPOINT_ID), description="The template's id")]
TriggerPath = Annotated[str, Path(pattern=limits.id_pattern(limits.ENDPOINT_ID), description="The trigger's id")]


@router.put(
    "/messaging/templates/{template_id}",
    response_model=TemplateView,
    summary="Create or replace a template",
    description="A wording per language (ru, en) in sandboxed Jinja2 with the filters `points`, `money`, `date` and "
    "`plural`. Refused (422, naming the part and line) unless every wording renders with the sample member; an email "
    "needs a subject, an SMS has only a text.",
)
def put_template(template_id: TemplatePath, body: TemplateIn, request: Request, _: deps.Admin) -> dict[str, Any]:
    wordings: dict[str, Any] = {language: w.model_dump(exclude_none=True) for language, w in body.wordings.items()}
    with UnitOfWork(deps.engine(request)) as uow:
        saved = messages.save_template(uow, template_id, Channel(body.channel), body.name, wordings, deps.now(request))
        uow.commit()
    return saved


@router.get("/messaging/templates", response_model=TemplateList, summary="List templates")
def list_templates(request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return {"templates": messages.list_templates(uow)}


@router.get("/messaging/templates/{template_id}", response_model=TemplateView, summary="Get a template")
def get_template(template_id: TemplatePath, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return messages.get_template(uow, template_id)


@router.delete(
    "/messaging/templates/{template_id}",
    response_model=TemplateView,
    summary="Remove a template",
    description="Answers with the template removed. A template a trigger uses is 409: remove or change the trigger "
    "first.",
)
def delete_template(template_id: TemplatePath, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        removed = messages.delete_template(uow, template_id)
        uow.commit()
    return removed


@router.post(
    "/messaging/templates/{template_id}/preview",
    response_model=PreviewView,
    summary="Preview a template",
    description="Rendered for a member (their data as of now) or, without `member_id`, for the sample member.",
)
def preview_template(
    template_id: TemplatePath, request: Request, _: deps.Admin, body: PreviewIn | None = None
) -> dict[str, Any]:
    body = body or PreviewIn(member_id=None, language=None)
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return messages.preview(uow, template_id, body.language, body.member_id, deps.now(request))


@router.put(
    "/messaging/triggers/{trigger_id}",
    response_model=TriggerView,
    summary="Create or replace a trigger",
    description="Which event sends which template on which channel, to the members the conditions select, after a "
    "delay (or, for points.expiring, some days before the points burn). Marketing messages need the member's consent "
    "to the channel; transactional ones go unless the policy says otherwise.",
)
def put_trigger(trigger_id: TriggerPath, body: TriggerIn, request: Request, _: deps.Admin) -> dict[str, Any]:
    trigger = trigger_of(trigger_id, body)
    with UnitOfWork(deps.engine(request)) as uow:
        saved = messages.save_trigger(uow, trigger, deps.now(request))
        uow.commit()
    return saved


@router.get("/messaging/triggers", response_model=TriggerList, summary="List triggers")
def list_triggers(request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return {"triggers": messages.list_triggers(uow)}


@router.get("/messaging/triggers/{trigger_id}", response_model=TriggerView, summary="Get a trigger")
def get_trigger(trigger_id: TriggerPath, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return messages.get_trigger(uow, trigger_id)


@router.delete(
    "/messaging/triggers/{trigger_id}",
    response_model=TriggerView,
    summary="Remove a trigger",
    description="Answers with the trigger removed. Its messages not yet sent are skipped ('trigger removed').",
)
def delete_trigger(trigger_id: TriggerPath, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        removed = messages.delete_trigger(uow, trigger_id, deps.now(request))
        uow.commit()
    return removed


# The links in messages: public, authenticated by their signature


Token = Annotated[str, Path(max_length=4000, description="The signed token the message's link carries")]
_PAGE = (
    "<!doctype html><html lang='ru'><head><meta charset='utf-8'><meta name='viewport' "
    "content='width=device-width'><title>{title}</title></head><body>{body}</body></html>"
)
_CONFIRM = (
    "<form method='post'><p>Отписаться от рассылки? Unsubscribe from these messages?</p>"
    "<button type='submit'>Отписаться / Unsubscribe</button></form>"
)
_DONE = "<p>Вы отписаны от рассылки. You are unsubscribed.</p>"


@router.get(
    "/unsubscribe/{token}",
    include_in_schema=False,  # a page for people; the API is the POST
    response_class=HTMLResponse,
    summary="The unsubscribe page (the link in a message)",
    description="Asks the member to confirm with a button that posts to the same address: a GET changes nothing, "
    "since mail scanners follow links (RFC 8058). An invalid link is 404.",
)
def unsubscribe_page(token: Token, request: Request) -> HTMLResponse:
    engine = deps.engine(request)
    if tracking.verify(tracking.secret(engine), token) is None:
        raise NotFound("this unsubscribe link is not valid")
    return HTMLResponse(_PAGE.format(title="Unsubscribe", body=_CONFIRM))


@router.post(
    "/unsubscribe/{token}",
    response_model=Unsubscribed,
    openapi_extra={"security": [{}]},  # no API key: the signed token in the path is the credential
    summary="Unsubscribe (one click, RFC 8058)",
    description="Withdraws the member's consent to the channel the message came by, with the time and the source "
    "`unsubscribe link`: what a mail client posts for List-Unsubscribe-Post, and the page's button. Answers HTML to "
    "a browser, JSON otherwise. An invalid link is 404.",
)
def unsubscribe_one_click(token: Token, request: Request) -> Response:
    done = _unsubscribe(request, token)
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(_PAGE.format(title="Unsubscribed", body=_DONE))
    return JSONResponse(done)


def _unsubscribe(request: Request, token: str) -> dict[str, Any]:
    engine = deps.engine(request)
    key = tracking.secret(engine)
    with UnitOfWork(engine) as uow:
        done = tracking.unsubscribe(uow, key, token, deps.now(request))
        uow.commit()
    return done


@router.get("/t/o/{token}", include_in_schema=False)
def opened(token: Token, request: Request) -> Response:
    engine = deps.engine(request)
    key = tracking.secret(engine)
    with UnitOfWork(engine) as uow:
        tracking.record_open(uow, key, token, deps.now(request))
        uow.commit()
    return Response(tracking.PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/t/c/{token}", include_in_schema=False)
def clicked(token: Token, request: Request) -> RedirectResponse:
    engine = deps.engine(request)
    key = tracking.secret(engine)
    with UnitOfWork(engine) as uow:
        url = tracking.record_click(uow, key, token, deps.now(request))
        uow.commit()
    return RedirectResponse(url, status_code=302)
