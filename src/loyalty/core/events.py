"""Domain events: what happened that a member or the retailer may want to hear about. A use case records its events
in the same transaction as its effect (the unit of work writes them to the outbox when it commits), and nothing is
sent from inside a transaction: the dispatcher reads the outbox afterwards and delivers each event at least once to
each consumer (webhooks, messages), recording per consumer that it did, so that each handles it once.

An event carries the member's account (events shard with the account; None for what concerns the whole program),
the instant it happened in business time, and its data: plain JSON values, the same for every consumer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    MEMBER_REGISTERED = "member.registered"
    POINTS_EARNED = "points.earned"  # an order's or an action's points credited (pending or spendable)
    POINTS_AVAILABLE = "points.available"  # pending points became spendable
    POINTS_SPENT = "points.spent"
    POINTS_EXPIRING = "points.expiring"  # a lot's points burn in N days (one event per account and expiry date)
    POINTS_EXPIRED = "points.expired"
    POINTS_ADJUSTED = "points.adjusted"  # an operator's manual adjustment
    ORDER_RETURNED = "order.returned"
    TIER_CHANGED = "tier.changed"
    BIRTHDAY = "member.birthday"
    OFFER_GRANTED = "offer.granted"
    WIN_BACK_GRANTED = "win_back.granted"
    REFERRAL_REWARDED = "referral.rewarded"
    TERMS_CHANGED = "terms.changed"  # a new program version was published (it may take effect later)
    MESSAGE_OPENED = "message.opened"
    MESSAGE_CLICKED = "message.clicked"
    SURVEY_ANSWERED = "survey.answered"


# What each kind means, for the API's documentation and `loyalty events kinds`.
DESCRIPTIONS: dict[EventKind, str] = {
    EventKind.MEMBER_REGISTERED: "A member registered (the welcome).",
    EventKind.POINTS_EARNED: "Points were credited for an order or an action; `available_at` says when they unlock.",
    EventKind.POINTS_AVAILABLE: "Pending points became spendable.",
    EventKind.POINTS_SPENT: "Points paid part of an order.",
    EventKind.POINTS_EXPIRING: "Points will expire soon: `points` burn at `expires_at`.",
    EventKind.POINTS_EXPIRED: "Points expired and were written off.",
    EventKind.POINTS_ADJUSTED: "An operator adjusted the balance.",
    EventKind.ORDER_RETURNED: "Lines of an order were returned or the order cancelled; points were taken or given back.",
    EventKind.TIER_CHANGED: "The member moved to another tier.",
    EventKind.BIRTHDAY: "The member's birthday gift was granted.",
    EventKind.OFFER_GRANTED: "A personal offer was granted to the member.",
    EventKind.WIN_BACK_GRANTED: "Win-back points were granted to an inactive member.",
    EventKind.REFERRAL_REWARDED: "The member's referral was rewarded.",
    EventKind.TERMS_CHANGED: "A new program version was published.",
    EventKind.MESSAGE_OPENED: "The member opened a message.",
    EventKind.MESSAGE_CLICKED: "The member followed a link in a message.",
    EventKind.SURVEY_ANSWERED: "The member answered a survey.",
}


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    account_id: int | None
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    # Makes the event unique among its account's events of its kind (e.g. the expiry date of a warning), so that a
    # job run twice records it once; None: every occurrence is a new event.
    key: str | None = None
