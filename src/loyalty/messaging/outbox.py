"""Reading the outbox: the events use cases recorded (core.events), newest last, for the API, the command line and
the consumers that follow them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from loyalty.core.events import EventKind
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

MAX_PAGE = 1000


def event_json(row: Any) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "kind": row.kind,
        "member_id": row.account_id,
        "occurred_at": row.occurred_at.isoformat(),
        "recorded_at": row.recorded_at.isoformat(),
        "data": row.data,
        "dispatched_at": row.dispatched_at.isoformat() if row.dispatched_at is not None else None,
    }


def events(
    uow: UnitOfWork,
    *,
    after: int | None = None,
    kinds: list[EventKind] | None = None,
    member_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The events after the id `after` (a page's last; None: from the first), oldest first, at most `limit`."""
    e = t.events.c
    query = select(t.events).order_by(e.event_id).limit(min(limit, MAX_PAGE))
    if after is not None:
        query = query.where(e.event_id > after)
    if kinds:
        query = query.where(e.kind.in_([k.value for k in kinds]))
    if member_id is not None:
        query = query.where(e.account_id == member_id)
    return [event_json(row) for row in uow.conn.execute(query)]
