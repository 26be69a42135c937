"""Triggers and the rules of contact, as data: which event sends which message, to whom, when; and what may stop or
delay a message when it is due (consent, quiet hours, frequency caps). Pure: the dispatcher and the senders give
the facts, these functions decide.

- A trigger's `conditions` all hold for the event's member: a tier among `tiers`, a segment among `segments`,
  `min_balance` (the balance the event reports, else the account's), `min_points` (the points the event moved).
- A trigger's delay puts the message after the event (`delay_minutes`: "3 days after registration"); for
  `points.expiring`, `before_expiry_days` puts it that many days before the points burn instead.
- `marketing` messages need the member's consent to the channel; `transactional` ones (a receipt of points, the
  expiry of points) go unless the policy says they need it too.
- Quiet hours are local to the program's time zone: a message due inside them waits until they end (an SMS due at
  23:00 goes at 09:00). Frequency caps count what a member was sent on a channel in the last day or week; over a cap
  the message is skipped, with the reason in the delivery log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from loyalty.core.errors import InvalidInput
from loyalty.core.events import EventKind
from loyalty.messaging.model import Channel


class Purpose(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


MESSAGE_CHANNELS = (Channel.EMAIL, Channel.SMS)
CONSENT_KIND = {Channel.EMAIL: "email", Channel.SMS: "sms"}  # members' consents by channel
ADDRESS_KIND = {Channel.EMAIL: "email", Channel.SMS: "phone"}  # members' identifiers by channel
MAX_DELAY_MINUTES = 366 * 24 * 60


@dataclass(frozen=True)
class Conditions:
    tiers: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    min_balance: int | None = None
    min_points: int | None = None

    def hold(self, facts: Facts) -> bool:
        if self.tiers and facts.tier not in self.tiers:
            return False
        if self.segments and not set(self.segments) & facts.segments:
            return False
        if self.min_balance is not None and (facts.balance is None or facts.balance < self.min_balance):
            return False
        return self.min_points is None or (facts.points is not None and facts.points >= self.min_points)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.tiers:
            found["tiers"] = list(self.tiers)
        if self.segments:
            found["segments"] = list(self.segments)
        if self.min_balance is not None:
            found["min_balance"] = self.min_balance
        if self.min_points is not None:
            found["min_points"] = self.min_points
        return found


@dataclass(frozen=True)
class Facts:
    """What the conditions look at, for one event's member."""

    tier: str | None
    segments: frozenset[str]
    balance: int | None
    points: int | None


@dataclass(frozen=True)
class Trigger:
    trigger_id: str
    event: EventKind
    channel: Channel
    template_id: str
    purpose: Purpose = Purpose.MARKETING
    conditions: Conditions = Conditions()
    delay_minutes: int = 0
    before_expiry_days: int | None = None
    enabled: bool = True

    def due_at(self, occurred_at: datetime, data: dict[str, Any], now: datetime) -> datetime | None:
        """When the message is due: after the delay, or `before_expiry_days` before the points expire; never before
        `now`. None: too late to say it (the points it warns of have expired)."""
        if self.before_expiry_days is not None and data.get("expires_at"):
            expires_at = datetime.fromisoformat(str(data["expires_at"]))
            if expires_at <= now:
                return None
            return max(now, expires_at - timedelta(days=self.before_expiry_days))
        return max(now, occurred_at + timedelta(minutes=self.delay_minutes))


class CapPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"

    @property
    def length(self) -> timedelta:
        return timedelta(days=1) if self is CapPeriod.DAY else timedelta(days=7)


@dataclass(frozen=True)
class Cap:
    count: int
    per: CapPeriod


@dataclass(frozen=True)
class QuietHours:
    """From `start` to `end` local time (crossing midnight when `end` <= `start`), on the channels listed."""

    start: time
    end: time
    channels: tuple[Channel, ...] = (Channel.SMS,)

    def holds(self, channel: Channel, at: datetime, zone: tzinfo) -> datetime | None:
        """When a message on `channel` due at `at` may go, if quiet hours hold it back; None: it may go now."""
        if channel not in self.channels or self.start == self.end:
            return None
        local = at.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        overnight = self.end <= self.start
        inside = (clock >= self.start or clock < self.end) if overnight else (self.start <= clock < self.end)
        if not inside:
            return None
        day = local.date() if (not overnight or clock < self.end) else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=zone)


@dataclass(frozen=True)
class Policy:
    """The program's rules of contact and where its links point."""

    quiet_hours: QuietHours | None = None
    caps: dict[Channel, Cap] = field(default_factory=dict)
    transactional_needs_consent: bool = False
    default_language: str = "ru"
    public_url: str | None = None  # the API's public address, for unsubscribe and tracking links
    tracking: bool = True  # open pixel and click links in HTML emails (needs public_url)

    def may_contact(self, channel: Channel, purpose: Purpose, consent: bool | None) -> str | None:
        """Why a message may not go, by consent; None: it may. `consent`: the member's for the channel (None: never
        asked)."""
        if (purpose is Purpose.MARKETING or self.transactional_needs_consent) and consent is not True:
            what = "withdrew their consent" if consent is False else "has not consented"
            return f"the member {what} to {CONSENT_KIND[channel]} ({purpose.value} message)"
        return None

    def over_cap(self, channel: Channel, sent: int) -> str | None:
        """Why a message is skipped after `sent` messages in the cap's period; None: under the cap."""
        cap = self.caps.get(channel)
        if cap is not None and sent >= cap.count:
            return f"frequency cap: at most {cap.count} {channel.value} per {cap.per.value} to a member"
        return None


# Reading the documents the API and the settings keep


def _clock(value: object, path: str) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise InvalidInput.at(path, "must be a time HH:MM")
    try:
        return time(int(value[:2]), int(value[3:]))
    except ValueError:
        raise InvalidInput.at(path, "must be a time HH:MM") from None


def parse_policy(data: dict[str, Any]) -> Policy:
    """A policy from its JSON form (validated by the API's schema; read again here from storage)."""
    quiet = data.get("quiet_hours")
    quiet_hours = None
    if quiet:
        channels = tuple(Channel(c) for c in quiet.get("channels", ["sms"]))
        quiet_hours = QuietHours(
            _clock(quiet["from"], "quiet_hours.from"), _clock(quiet["to"], "quiet_hours.to"), channels
        )
    caps = {Channel(c): Cap(int(cap["count"]), CapPeriod(cap["per"])) for c, cap in (data.get("caps") or {}).items()}
    return Policy(
        quiet_hours=quiet_hours,
        caps=caps,
        transactional_needs_consent=bool(data.get("transactional_needs_consent", False)),
        default_language=str(data.get("default_language", "ru")),
        public_url=data.get("public_url"),
        tracking=bool(data.get("tracking", True)),
    )
