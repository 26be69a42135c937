"""Webhook endpoints: the retailer's URLs that receive events, and the signed request each delivery makes.

A request is signed the Standard Webhooks way (standardwebhooks.com): headers `webhook-id` (the event's, the same
on every attempt), `webhook-timestamp` (seconds) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
`<id>.<timestamp>.<body>` with the endpoint's secret). A receiver verifies it with any Standard Webhooks library.
An endpoint's secret is write-only: generated when not given and shown once, when the endpoint is created."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from loyalty.core import limits
from loyalty.core.errors import Conflict, InvalidInput, NotFound
from loyalty.core.events import EventKind
from loyalty.messaging.model import Attempt, Channel, DeliveryStatus, http_attempt, webhook_body, webhook_id
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # the shortest and longest key a secret may carry
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class EndpointInput:
    """An endpoint as a request describes it; None: not given (keep what is stored, or the default)."""

    url: str | None = None
    kinds: list[str] | None = None
    secret: str | None = None
    enabled: bool | None = None
    description: str | None = None


def check_url(url: str, path: str = "url") -> str:
    if len(url) > limits.URL:
        raise InvalidInput.at(path, f"must be at most {limits.URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput.at(path, "must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidInput.at(path, "must not carry credentials; the signature authenticates the request")
    return url


def check_kinds(kinds: list[str], path: str = "kinds") -> list[str]:
    known = {k.value for k in EventKind}
    for i, kind in enumerate(kinds):
        if kind not in known:
            raise InvalidInput.at(f"{path}[{i}]", f"unknown event kind {kind!r}; one of: {', '.join(sorted(known))}")
    return sorted(set(kinds))


def check_secret(secret: str, path: str = "secret") -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidInput.at(path, f"must start with {SECRET_PREFIX!r} (a Standard Webhooks secret)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput.at(path, f"must be {SECRET_PREFIX!r} followed by base64") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise InvalidInput.at(path, f"must carry {low} to {high} bytes of key; it carries {len(key)}")
    return secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_json(row: Any) -> dict[str, Any]:
    return {
        "endpoint_id": row.endpoint_id,
        "url": row.url,
        "kinds": list(row.kinds),
        "enabled": row.enabled,
        "description": row.description,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def create(uow: UnitOfWork, endpoint_id: str, data: EndpointInput, now: datetime) -> dict[str, Any]:
    """Create an endpoint; the answer carries its secret when the program generated it (the only time it is shown)."""
    if data.url is None:
        raise InvalidInput.at("url", "is required")
    if find(uow, endpoint_id) is not None:
        raise Conflict(f"webhook endpoint {endpoint_id} already exists")
    secret = check_secret(data.secret) if data.secret is not None else new_secret()
    values = {
        "endpoint_id": endpoint_id,
        "url": check_url(data.url),
        "secret": secret,
        "kinds": check_kinds(data.kinds or []),
        "enabled": True if data.enabled is None else data.enabled,
        "description": data.description,
        "created_at": now,
        "updated_at": now,
    }
    uow.conn.execute(t.webhook_endpoints.insert().values(**values))
    view = get(uow, endpoint_id)
    if data.secret is None:
        view["secret"] = secret
    return view


def change(uow: UnitOfWork, endpoint_id: str, data: EndpointInput, now: datetime) -> dict[str, Any]:
    """Change what is given; a new secret signs every request from now on, retries of earlier events too."""
    if find(uow, endpoint_id) is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    values: dict[str, Any] = {"updated_at": now}
    if data.url is not None:
        values["url"] = check_url(data.url)
    if data.kinds is not None:
        values["kinds"] = check_kinds(data.kinds)
    if data.secret is not None:
        values["secret"] = check_secret(data.secret)
    if data.enabled is not None:
        values["enabled"] = data.enabled
    if data.description is not None:
        values["description"] = data.description
    uow.conn.execute(update(t.webhook_endpoints).where(t.webhook_endpoints.c.endpoint_id == endpoint_id).values(values))
    return get(uow, endpoint_id)


def remove(uow: UnitOfWork, endpoint_id: str, now: datetime) -> dict[str, Any]:
    """Remove an endpoint. Its deliveries not yet made are given up (dead, "endpoint removed"); the log stays."""
    view = get(uow, endpoint_id)
    d = t.deliveries.c
    given_up = uow.conn.execute(
        update(t.deliveries)
        .where(
            d.channel == Channel.WEBHOOK.value,
            d.target == endpoint_id,
            d.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]),
        )
        .values(status=DeliveryStatus.DEAD.value, error="endpoint removed", claimed_until=None, updated_at=now)
    ).rowcount
    uow.conn.execute(t.webhook_endpoints.delete().where(t.webhook_endpoints.c.endpoint_id == endpoint_id))
    return {**view, "deliveries_given_up": given_up}


def get(uow: UnitOfWork, endpoint_id: str) -> dict[str, Any]:
    row = find(uow, endpoint_id)
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint_json(row)


def list_endpoints(uow: UnitOfWork) -> list[dict[str, Any]]:
    rows = uow.conn.execute(select(t.webhook_endpoints).order_by(t.webhook_endpoints.c.endpoint_id))
    return [endpoint_json(row) for row in rows]


def find(uow: UnitOfWork, endpoint_id: str) -> Any:
    query = select(t.webhook_endpoints).where(t.webhook_endpoints.c.endpoint_id == endpoint_id)
    return uow.conn.execute(query).first()


def subscribers(uow: UnitOfWork) -> list[tuple[str, frozenset[str]]]:
    """The enabled endpoints and the kinds each wants (empty: all)."""
    e = t.webhook_endpoints.c
    rows = uow.conn.execute(select(e.endpoint_id, e.kinds).where(e.enabled.is_(True)).order_by(e.endpoint_id))
    return [(row.endpoint_id, frozenset(row.kinds)) for row in rows]


def signed_headers(secret: str, event_id: int, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of a request sent at `at`."""
    message_id = webhook_id(event_id)
    at = at.astimezone(UTC)  # the library reads the instant as UTC whatever its offset
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": "loyalty-webhooks/1",
    }


def send(client: httpx.Client, endpoint: Any, event: Any, at: datetime) -> Attempt:
    """POST one event to one endpoint (rows of webhook_endpoints and events), signed as of `at`."""
    body = webhook_body(event.event_id, event.kind, event.account_id, event.occurred_at, event.data)
    headers = signed_headers(endpoint.secret, event.event_id, body, at)
    started = time.perf_counter()
    try:
        answer = client.post(endpoint.url, content=body.encode(), headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.TimeoutException:
        return Attempt(False, _since(started), error=f"no answer within {TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as error:
        return Attempt(False, _since(started), error=f"{type(error).__name__}: {error}"[:500])
    return http_attempt(answer.status_code, answer.text[: limits.RESPONSE_EXCERPT], _since(started))


def _since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
