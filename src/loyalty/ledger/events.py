"""The events an account's ledger changes report, derived from the changes themselves, so that no path that moves
points (checkout, actions, jobs, adjustments) can forget to report it: points earned, spent, expired and adjusted.
Returns report `order.returned` from their own use case, with the whole return's figures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from loyalty.core.events import Event, EventKind
from loyalty.ledger.account import Changes, LedgerEntry
from loyalty.ledger.model import EntryKind

_CREDITS = (EntryKind.EARN, EntryKind.ACTION)


def events_of(account_id: int, changes: Changes) -> list[Event]:
    """One event per order or action that earned, per spend and per adjustment, and one for all the lots the changes
    expired; each carries the balance after the changes."""
    balance = changes.balance
    lots = {lot.lot_no: lot for lot in changes.new_lots}
    found: list[Event] = []
    earned: dict[tuple[str | None, str | None, str | None], list[LedgerEntry]] = {}
    expired: list[LedgerEntry] = []
    data: dict[str, Any]
    for entry in changes.entries:
        p = entry.provenance
        if entry.kind in _CREDITS:
            earned.setdefault((p.order_key, p.action_key, None if p.order_key else p.rule_id), []).append(entry)
        elif entry.kind is EntryKind.EXPIRE:
            expired.append(entry)
        elif entry.kind is EntryKind.SPEND:
            data = {"order_id": p.order_key, "points": -entry.points, "balance": balance}
            found.append(Event(EventKind.POINTS_SPENT, account_id, entry.occurred_at, data))
        elif entry.kind is EntryKind.ADJUST:
            data = {"points": entry.points, "operator": p.operator, "reason": p.reason, "balance": balance}
            found.append(Event(EventKind.POINTS_ADJUSTED, account_id, entry.occurred_at, data))
    for (order_key, action_key, source), entries in earned.items():
        credited = [lots[e.lot_no] for e in entries if e.lot_no in lots]
        data = {
            "order_id": order_key,
            "action_id": action_key,
            "source": source if source is not None else _source(entries),
            "points": sum(e.points for e in entries),
            "available_at": _iso(min((lot.available_at for lot in credited), default=None)),
            "expires_at": _iso(min(_expiries(credited), default=None)),
            "balance": balance,
        }
        found.append(Event(EventKind.POINTS_EARNED, account_id, max(e.occurred_at for e in entries), data))
    if expired:
        data = {"points": -sum(e.points for e in expired), "lots": len(expired), "balance": balance}
        found.append(Event(EventKind.POINTS_EXPIRED, account_id, max(e.occurred_at for e in expired), data))
    return found


def _source(entries: list[LedgerEntry]) -> str | None:
    rules = {e.provenance.rule_id for e in entries}
    return rules.pop() if len(rules) == 1 else None


def _expiries(lots: list[Any]) -> Iterator[datetime]:
    return (lot.expires_at for lot in lots if lot.expires_at is not None)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
