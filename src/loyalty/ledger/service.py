"""Reading a member's points (balance, pending, next expiries, entries) and manual adjustments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from loyalty.core.errors import InvalidInput
from loyalty.ledger import repository as accounts
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def balance(uow: UnitOfWork, member_id: int, now: datetime) -> dict[str, Any]:
    """The balance and how it splits: spendable now, pending, held by reservations, burning soon, and the spendable
    points that carry a limit of their own (win-back points), by share and expiry."""
    account = accounts.load_lots(uow, accounts.read(uow, member_id, now))
    lots = account.lots().values()
    spendable = sum(lot.remaining for lot in lots if lot.spendable_at(now))
    pending = sum(lot.remaining for lot in lots if lot.available_at > now)
    expired = sum(lot.remaining for lot in lots if lot.expires_at is not None and lot.expires_at <= now)
    held = accounts.held(uow, account)
    expiries: dict[str, int] = {}
    for lot in sorted(lots, key=lambda x: x.expires_at or now):
        if lot.expires_at is not None and lot.expires_at > now:
            expiries[lot.expires_at.isoformat()] = expiries.get(lot.expires_at.isoformat(), 0) + lot.remaining
    restricted: dict[tuple[Decimal, datetime | None], int] = {}
    for lot in lots:
        if lot.max_share is not None and lot.spendable_at(now):
            key = (lot.max_share, lot.expires_at)
            restricted[key] = restricted.get(key, 0) + lot.remaining
    return {
        "member_id": member_id,
        "balance": account.balance,
        "available": max(0, spendable - held),
        "pending": pending,
        "held": held,
        "expired_not_yet_written_off": expired,
        "debt": account.debt,
        "next_expiries": [{"expires_at": k, "points": v} for k, v in list(expiries.items())[:5]],
        "restricted": [
            {
                "points": points,
                "max_share_percent": f"{(share * 100).normalize():f}",
                "expires_at": expires_at.isoformat() if expires_at else None,
            }
            for (share, expires_at), points in sorted(restricted.items(), key=_soonest_first)
        ],
    }


def _soonest_first(item: tuple[tuple[Decimal, datetime | None], int]) -> tuple[bool, str, Decimal]:
    (share, expires_at), _ = item
    return (expires_at is None, expires_at.isoformat() if expires_at else "", share)


def entries(uow: UnitOfWork, member_id: int, *, after: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Ledger entries of one account, newest first, paged by entry number."""
    query = select(t.ledger_entries).where(t.ledger_entries.c.account_id == member_id)
    if after is not None:
        query = query.where(t.ledger_entries.c.entry_no < after)
    rows = uow.conn.execute(query.order_by(t.ledger_entries.c.entry_no.desc()).limit(limit))
    return [entry_json(r) for r in rows]


def entry_json(r: Any) -> dict[str, Any]:
    return {
        "entry_no": r.entry_no,
        "kind": r.kind,
        "points": r.points,
        "occurred_at": r.occurred_at.isoformat(),
        "program_version": r.program_version,
        "rule": r.rule_id,
        "order_id": r.order_key,
        "return_id": r.return_key,
        "event_id": r.action_key,
        "operator": r.operator,
        "reason": r.reason,
        "details": r.details,
    }


def adjust(
    uow: UnitOfWork,
    member_id: int,
    points: int,
    operator: str,
    reason: str,
    now: datetime,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """A manual adjustment; it must name the operator and the reason. It is dated `occurred_at` (default: now),
    and added points follow the expiry of the program in force then, counted from then."""
    if not operator.strip():
        raise InvalidInput.at("operator", "is required: who makes the adjustment")
    if not reason.strip():
        raise InvalidInput.at("reason", "is required: why the balance changes")
    at = occurred_at or now
    account = accounts.lock(uow, member_id, now)
    version = programs.version_at(uow, at)
    program = version.program
    expires_at = program.expiry.expires_at(at, at, program.timezone)
    if points < 0:  # a debit draws from the lots; a credit only adds one
        accounts.load_lots(uow, account)
    entry_no = account.adjust(points, at, operator.strip(), reason.strip(), expires_at, version.number)
    accounts.flush(uow, account)
    return {"member_id": member_id, "entry_no": entry_no, "points": points, "balance": account.balance}
