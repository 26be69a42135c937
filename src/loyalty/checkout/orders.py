"""The order store of the checkout: an order found by its id, the stored result a repeated request gets back,
a new order and its lines inserted exactly once (a racing request finds the id taken), the request kept with an
order, and an order as the API shows it. The use cases that decide what to store are in `checkout.service`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Row, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.checkout.quote import Quote
from loyalty.checkout.requests import OrderRequest
from loyalty.core.errors import Conflict, NotFound
from loyalty.program.model import ProgramVersion
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def order_exists(uow: UnitOfWork, order_key: str) -> bool:
    return uow.conn.execute(_ORDER_EXISTS, {"order_key": order_key}).first() is not None


def find(uow: UnitOfWork, order_key: str) -> Row[Any] | None:
    return uow.conn.execute(_FIND_ORDER, {"order_key": order_key}).first()


def replay(existing: Row[Any], digest: str, action: str) -> dict[str, Any] | None:
    """The stored result when `existing` is the same order again; a Conflict when the id is reused."""
    if existing.request_hash != digest:
        raise Conflict(f"order {existing.order_key} was already recorded with a different body; nothing was changed")
    if existing.status == "reserved":
        return None
    if existing.status == "released" or (
        existing.status == "cancelled" and existing.result.get("status") == "reserved"
    ):
        raise Conflict(
            f"order {existing.order_key} was reserved and then {existing.status}; use a new order id to {action}"
        )
    return dict(existing.result)


def insert_new(uow: UnitOfWork, request: OrderRequest, *args: Any, **kwargs: Any) -> Row[Any] | None:
    """Insert a new order; None when done. Two requests for one order id are serialised by the member's account
    lock, except the orders of non-members and one id sent for two members: then the second insert finds the key
    taken (on PostgreSQL, once the first transaction has committed) and inserts nothing, and the order the first
    request recorded is returned, for the caller to replay it or refuse."""
    if insert(uow, request, *args, **kwargs):
        return None
    raced = find(uow, request.order_key)
    if raced is None:  # orders are never deleted
        raise RuntimeError(f"order {request.order_key} was neither inserted nor found")
    return raced


def insert(
    uow: UnitOfWork,
    request: OrderRequest,
    member_id: int | None,
    version: ProgramVersion,
    q: Quote,
    digest: str,
    status: str,
    result: dict[str, Any],
    now: datetime,
    spend_entry: int | None = None,
    earn_lots: list[int] | None = None,
    hold_until: datetime | None = None,
    *,
    program_withheld_by: str | None = None,
) -> bool:
    """Insert the order and its lines; False, inserting nothing, when its id is taken."""
    row = order_row(request, member_id, version, q, digest, status, result, now, spend_entry, earn_lots, hold_until)
    row["program_withheld_by"] = program_withheld_by
    inserted = uow.conn.execute(_INSERT_ORDER[uow.conn.dialect.name], row).rowcount
    if not inserted:
        return False
    if status == "confirmed":
        uow.conn.execute(_INSERT_LINES, line_rows(request.order_key, member_id, q))
    return True


def order_row(
    request: OrderRequest,
    member_id: int | None,
    version: ProgramVersion,
    q: Quote,
    digest: str,
    status: str,
    result: dict[str, Any],
    now: datetime,
    spend_entry: int | None = None,
    earn_lots: list[int] | None = None,
    hold_until: datetime | None = None,
) -> dict[str, Any]:
    """The `orders` row of an order recorded as `status` with quote `q`."""
    return {
        "order_key": request.order_key,
        "account_id": member_id,
        "status": status,
        "occurred_at": request.occurred_at,
        "program_version": version.number,
        "request_hash": digest,
        "total": q.total,
        "points_applied": q.points_applied if status == "confirmed" else 0,
        "points_earned": q.points_to_earn if status == "confirmed" else 0,
        "hold_points": q.points_applied if status == "reserved" else 0,
        "hold_expires_at": hold_until,
        "spend_entry_no": spend_entry,
        "earn_lots": earn_lots or [],
        "channel": request.channel,
        "store": request.store,
        "request": request.as_json(),
        "result": result,
        "created_at": now,
        "updated_at": now,
    }


# The statements of every order, built once: SQLAlchemy would otherwise construct a statement and compute its cache
# key on each call, which costs more than running it. An order id already taken — by a request racing this one —
# makes the insert do nothing rather than fail, so that no savepoint is needed to carry on after it.
_ORDER_EXISTS = select(t.orders.c.order_key).where(t.orders.c.order_key == bindparam("order_key"))
_FIND_ORDER = select(t.orders).where(t.orders.c.order_key == bindparam("order_key"))
# (SQLAlchemy keeps the row count of an INSERT only when asked to.)
_INSERT_ORDER: dict[str, Insert] = {
    name: insert(t.orders)
    .on_conflict_do_nothing(index_elements=[t.orders.c.order_key])
    .execution_options(preserve_rowcount=True)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_INSERT_LINES = t.order_lines.insert()


def line_rows(order_key: str, member_id: int | None, q: Quote) -> list[dict[str, Any]]:
    return [
        {
            "order_key": order_key,
            "line_no": i,
            "account_id": member_id,
            "line_id": line.line_id,
            "sku": line.sku,
            "category": line.category,
            "quantity": line.quantity,
            "amount": line.amount,
            "points_applied": line.points_applied,
            "points_earned": line.points_earned,
            "returned_quantity": 0,
        }
        for i, line in enumerate(q.lines)
    ]


def stored_request(row: Row[Any]) -> OrderRequest:
    """The request an order was recorded with, read back as it was validated then (confirming a reservation
    replays it)."""
    return OrderRequest.from_json(row.order_key, row.request)


def get_order(uow: UnitOfWork, order_key: str) -> dict[str, Any]:
    """An order with its result, what was returned of each line, and its ledger entries."""
    from loyalty.ledger.service import entry_json

    order = find(uow, order_key)
    if order is None:
        raise NotFound(f"no order {order_key}")
    returned = {
        r.line_id: r.returned_quantity
        for r in uow.conn.execute(
            select(t.order_lines.c.line_id, t.order_lines.c.returned_quantity).where(
                t.order_lines.c.order_key == order_key
            )
        )
    }
    entries = []
    if order.account_id is not None:
        entries = [
            entry_json(r)
            for r in uow.conn.execute(
                select(t.ledger_entries)
                .where(t.ledger_entries.c.account_id == order.account_id, t.ledger_entries.c.order_key == order_key)
                .order_by(t.ledger_entries.c.entry_no)
            )
        ]
    return {
        "order_id": order_key,
        "status": order.status,
        "member_id": order.account_id,
        "result": order.result,
        "returned": returned,
        "entries": entries,
    }
