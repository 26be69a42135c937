"""Links in messages: one-click unsubscribe, the open pixel and click redirects of HTML emails.

Each link carries a token: what it stands for (the member and consent to withdraw, the message opened, the URL
clicked) and an HMAC-SHA256 of it with the installation's secret (LOYALTY_SECRET_KEY, else the one kept in the
database), so a link cannot be forged, altered or guessed from another (ids are not enumerable), and a click
redirects only to a URL the message itself contained (no open redirect). What a link records:

- unsubscribe: the member's consent to the channel is withdrawn, with the time and the source `unsubscribe link`;
- open: a `message.opened` event, once per message, and the program's `email_open` action bonus if it has one
  (once per message: its event id is the delivery's);
- click: a `message.clicked` event, once per message and URL."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import html
import re
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from loyalty.access import service as access
from loyalty.core.errors import Conflict, InvalidInput, NotFound
from loyalty.core.events import Event, EventKind
from loyalty.engagement import actions
from loyalty.members import service as members
from loyalty.messaging.model import Channel
from loyalty.messaging.rules import CONSENT_KIND
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

OPEN_ACTION = "email_open"  # the program's action bonus for opening an email (MIXIT's "points for opening")
UNSUBSCRIBE_SOURCE = "unsubscribe link"
# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def secret(engine: Engine) -> bytes:
    """The secret links are signed with (made and kept in the database the first time, when none is configured)."""
    with UnitOfWork(engine) as uow:
        found = access.signing_secret(uow)
        uow.commit()
    return found


def _encode(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


def _decode(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def sign(key: bytes, payload: str) -> str:
    mac = hmac.new(key, b"link:" + payload.encode(), hashlib.sha256).digest()[:18]
    return f"{_encode(payload)}.{base64.urlsafe_b64encode(mac).decode()}"


def verify(key: bytes, token: str) -> list[str] | None:
    """The parts of a token's payload, or None when the token is not one this installation signed."""
    if len(token) > 4000 or not token.isascii() or token.count(".") != 1:
        return None
    encoded, _ = token.split(".")
    payload = _decode(encoded)
    if payload is None or not hmac.compare_digest(sign(key, payload), token):
        return None
    return payload.split("|")


def unsubscribe_url(key: bytes, base: str, member_id: int, channel: Channel) -> str:
    return f"{base.rstrip('/')}/v1/unsubscribe/{sign(key, f'u|{member_id}|{CONSENT_KIND[channel]}')}"


def open_url(key: bytes, base: str, delivery_id: int) -> str:
    return f"{base.rstrip('/')}/v1/t/o/{sign(key, f'o|{delivery_id}')}"


def click_url(key: bytes, base: str, delivery_id: int, url: str) -> str:
    return f"{base.rstrip('/')}/v1/t/c/{sign(key, f'c|{delivery_id}|{url}')}"


_LINK = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


def instrument(body: str, key: bytes, base: str, delivery_id: int) -> str:
    """An HTML body with its http(s) links going through click redirects and an open pixel at its end."""

    def through(match: re.Match[str]) -> str:
        target = html.unescape(match[3])
        return f"{match[1]}{match[2]}{click_url(key, base, delivery_id, target)}{match[2]}"

    pixel = f'<img src="{open_url(key, base, delivery_id)}" width="1" height="1" alt="" style="display:none">'
    linked = _LINK.sub(through, body)
    closing = linked.lower().rfind("</body>")
    return linked + pixel if closing < 0 else linked[:closing] + pixel + linked[closing:]


# What a link records


def _delivery(uow: UnitOfWork, delivery_id: int) -> Any:
    d = t.deliveries.c
    row = uow.conn.execute(
        select(d.delivery_id, d.account_id, d.channel, d.target).where(d.delivery_id == delivery_id)
    ).first()
    if row is None or row.account_id is None:
        raise NotFound("no such message")
    return row


def unsubscribe(uow: UnitOfWork, key: bytes, token: str, now: datetime) -> dict[str, Any]:
    parts = verify(key, token)
    if parts is None or len(parts) != 3 or parts[0] != "u" or not parts[1].isdigit():
        raise NotFound("this unsubscribe link is not valid")
    member_id, kind = int(parts[1]), parts[2]
    consents = {c.kind: c for c in uow.conn.execute(select(t.consents).where(t.consents.c.member_id == member_id))}
    if consents.get(kind) is None or consents[kind].granted:
        members.set_consent(uow, member_id, members.Consent(kind, False, UNSUBSCRIBE_SOURCE, now), now)
    return {"member_id": member_id, "consent": kind, "granted": False}


def record_open(uow: UnitOfWork, key: bytes, token: str, now: datetime) -> None:
    parts = verify(key, token)
    if parts is None or len(parts) != 2 or parts[0] != "o" or not parts[1].isdigit():
        raise NotFound("no such message")
    message = _delivery(uow, int(parts[1]))
    data = {"delivery_id": message.delivery_id, "trigger_id": message.target, "channel": message.channel}
    event = Event(EventKind.MESSAGE_OPENED, message.account_id, now, data, key=f"open:{message.delivery_id}")
    uow.emit(event, now)
    try:
        version = programs.version_at(uow, now)
    except programs.NoProgram:
        return
    if OPEN_ACTION in version.program.actions:
        # A cap reached (or the bonus given already) leaves the open recorded all the same.
        with contextlib.suppress(Conflict, InvalidInput):
            event_key = f"message-{message.delivery_id}"
            actions.record_action(uow, message.account_id, OPEN_ACTION, event_key, now, now, occurred_at_given=False)


def record_click(uow: UnitOfWork, key: bytes, token: str, now: datetime) -> str:
    """Record a click and give the URL to redirect to."""
    parts = verify(key, token)
    if parts is None or len(parts) < 3 or parts[0] != "c" or not parts[1].isdigit():
        raise NotFound("no such link")
    url = "|".join(parts[2:])
    message = _delivery(uow, int(parts[1]))
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    data = {"delivery_id": message.delivery_id, "trigger_id": message.target, "url": url}
    uow.emit(
        Event(EventKind.MESSAGE_CLICKED, message.account_id, now, data, key=f"click:{message.delivery_id}:{digest}"),
        now,
    )
    return url
