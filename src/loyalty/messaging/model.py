"""Deliveries as data: their channels and states, when a failed one is tried again, and what a webhook carries.

A delivery is one event for one consumer. It is `pending` until a worker claims it (`sending`, with a claim that
expires, so a killed worker's deliveries are taken over), then `delivered`, back to `pending` for a later attempt,
or `dead` once out of attempts or refused for good; `skipped` when a rule of contact said no (its error says why).
Replaying a delivery makes it `pending` again, due at once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from random import Random
from typing import Any


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    SMS = "sms"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter: the n-th retry waits a random time between half and all of
    `first_delay * factor**(n-1)`, at most `max_delay`, so that many deliveries failing together (a receiver down)
    do not all come back at the same instant. After `max_attempts` attempts a delivery is dead."""

    first_delay: timedelta = timedelta(seconds=30)
    factor: int = 2
    max_delay: timedelta = timedelta(hours=6)
    max_attempts: int = 12  # with the defaults, about a day and a half of trying

    def next_attempt(self, attempts: int, now: datetime, rng: Random) -> datetime | None:
        """When to try again after the `attempts`-th attempt failed at `now`; None: no more attempts."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.max_delay, self.first_delay * self.factor ** max(attempts - 1, 0))
        whole = int(ceiling.total_seconds())
        return now + timedelta(seconds=rng.randint(whole // 2, whole))


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went: delivered, or why not (`permanent`: trying again cannot help)."""

    delivered: bool
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response: str | None = None
    permanent: bool = False
    skipped: bool = False  # a rule of contact said no: the message is not sent at all (`error` says why)
    defer_until: datetime | None = None  # not an attempt: the message waits (quiet hours), then goes


def webhook_id(event_id: int) -> str:
    """The message id a receiver sees (`webhook-id`): the same on every attempt, so a receiver can drop repeats."""
    return f"evt_{event_id}"


def webhook_body(event_id: int, kind: str, member_id: int | None, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The body a webhook carries, in the Standard Webhooks shape (`type`, `timestamp`, `data`), byte for byte the
    same on every attempt (sorted keys, no spaces), since the signature covers it."""
    payload = {
        "type": kind,
        "timestamp": occurred_at.isoformat(),
        "data": {"event_id": event_id, "member_id": member_id, **data},
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def http_attempt(status_code: int, response: str, duration_ms: int) -> Attempt:
    """A receiver's answer: any 2xx is delivered; 410 Gone is the receiver saying it will never take it; anything
    else is worth another attempt (4xx too: a receiver being deployed answers 404 for a minute)."""
    if 200 <= status_code < 300:
        return Attempt(True, duration_ms, status_code, None, response)
    return Attempt(False, duration_ms, status_code, f"HTTP {status_code}", response, permanent=status_code == 410)
