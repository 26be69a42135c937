"""Partial returns and cancellations: returned lines take back what they earned and give back what was spent
on them, by the rules and the program version the order was confirmed under.

Per line, the points a return moves are cumulative shares (`cumulative_share`), so any sequence of partial
returns never moves more than the order did, and a full return restores the balance exactly."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update

from loyalty.checkout import service as checkout
from loyalty.core import limits
from loyalty.core.allocation import cumulative_share
from loyalty.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from loyalty.core.events import Event, EventKind
from loyalty.core.identifiers import id_problem
from loyalty.core.money import format_money
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.ledger.model import Provenance
from loyalty.program import service as programs
from loyalty.program.model import Shortfall
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def parse_return_lines(data: object) -> list[tuple[str, int]]:
    if not isinstance(data, list) or not data:
        raise InvalidInput.at("lines", "must be a non-empty list of {line_id, quantity}")
    problems: list[FieldProblem] = []
    lines: list[tuple[str, int]] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "line_id" not in item:
            problems.append(FieldProblem(f"lines[{i}]", "must be an object with line_id and quantity"))
            continue
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            problems.append(FieldProblem(f"lines[{i}].quantity", "must be a positive whole number"))
            continue
        lines.append((str(item["line_id"]), quantity))
    if problems:
        raise InvalidInput(problems)
    return lines


def _lock_order(uow: UnitOfWork, order_key: str, now: datetime) -> tuple[Row[Any], Account | None]:
    """The order and its member's account, both locked, in the order every use case takes them (the account,
    then the order), and the order read again under the locks: a concurrent confirm, return or cancel of it has
    either committed and is seen, or waits. The order's own lock serialises the returns of non-members' orders."""
    order = uow.conn.execute(select(t.orders.c.account_id).where(t.orders.c.order_key == order_key)).first()
    if order is None:
        raise NotFound(f"no order {order_key}")
    account = accounts.lock(uow, order.account_id, now) if order.account_id is not None else None
    query = select(t.orders).where(t.orders.c.order_key == order_key)
    locked = uow.conn.execute(query if uow.is_sqlite else query.with_for_update()).one()
    return locked, account


CANCEL_SUFFIX = "#cancel"  # limits.RETURN_KEY leaves room for it after the longest order id


def return_lines(
    uow: UnitOfWork,
    order_key: str,
    return_key: str,
    lines: list[tuple[str, int]],
    now: datetime,
    *,
    _cancelling: bool = False,
) -> dict[str, Any]:
    """Return some quantity of some lines of a confirmed order, exactly once per `return_key` of that order (return
    ids are the caller's, numbered per order: another order's return with the same id is another return)."""
    if not return_key or len(return_key) > limits.KEY:
        raise InvalidInput.at("return_id", f"is required, at most {limits.KEY} characters")
    if (problem := id_problem(return_key, "return id")) is not None:
        raise InvalidInput.at("return_id", problem)
    if return_key.endswith(CANCEL_SUFFIX) and not _cancelling:
        raise InvalidInput.at("return_id", f"ids ending in {CANCEL_SUFFIX!r} are kept for cancellations")
    order, account = _lock_order(uow, order_key, now)
    digest = hashlib.sha256(json.dumps([order_key, sorted(lines)]).encode()).hexdigest()
    existing = uow.conn.execute(
        select(t.returns).where(t.returns.c.order_key == order_key, t.returns.c.return_key == return_key)
    ).first()
    if existing is not None:
        if existing.request_hash != digest:
            raise Conflict(
                f"return {return_key} of order {order_key} was already recorded with a different body; "
                "nothing was changed"
            )
        return dict(existing.result)
    if order.status != "confirmed":
        raise Conflict(f"order {order_key} is {order.status}; only a confirmed order can be returned")
    rows = {
        r.line_id: r
        for r in uow.conn.execute(
            select(t.order_lines).where(t.order_lines.c.order_key == order_key).order_by(t.order_lines.c.line_no)
        )
    }
    problems: list[FieldProblem] = []
    wanted: dict[str, int] = {}
    for i, (line_id, quantity) in enumerate(lines):
        wanted[line_id] = wanted.get(line_id, 0) + quantity
        row = rows.get(line_id)
        if row is None:
            problems.append(FieldProblem(f"lines[{i}].line_id", f"order {order_key} has no line {line_id!r}"))
        elif wanted[line_id] > row.quantity - row.returned_quantity:
            left = row.quantity - row.returned_quantity
            problems.append(FieldProblem(f"lines[{i}].quantity", f"only {left} of line {line_id!r} left to return"))
    if problems:
        raise InvalidInput(problems)
    program = programs.version(uow, order.program_version).program
    moved = []
    for line_id, quantity in wanted.items():
        row = rows[line_id]
        before = row.returned_quantity
        paid = row.amount - row.points_applied * program.point_value
        moved.append(
            {
                "line_id": line_id,
                "quantity": quantity,
                "points_taken_back": cumulative_share(row.points_earned, before, quantity, row.quantity),
                "points_given_back": cumulative_share(row.points_applied, before, quantity, row.quantity),
                "amount_refunded": format_money(
                    cumulative_share(paid, before, quantity, row.quantity), program.exponent
                ),
                "_returned": before + quantity,
            }
        )
    give = sum(m["points_given_back"] for m in moved)
    take = sum(m["points_taken_back"] for m in moved)
    taken, shortfall = 0, 0
    provenance = Provenance(
        program_version=order.program_version, rule_id="return", order_key=order_key, return_key=return_key
    )
    if account is not None:
        if give:
            account.give_back(give, now, accounts.spend(uow, account, order.spend_entry_no), provenance)
        if take:
            taken, shortfall = accounts.load_lots(uow, account).take_back(
                take, now, list(order.earn_lots), program.shortfall is Shortfall.NEGATIVE_BALANCE, provenance
            )
        accounts.flush(uow, account)
    uow.conn.execute(
        update(t.order_lines)
        .where(t.order_lines.c.order_key == order_key, t.order_lines.c.line_id == bindparam("lid"))
        .values(returned_quantity=bindparam("rq")),
        [{"lid": m["line_id"], "rq": m.pop("_returned")} for m in moved],
    )
    result = {
        "order_id": order_key,
        "return_id": return_key,
        "points_taken_back": taken,
        "points_given_back": give,
        "shortfall": shortfall,
        "balance": account.balance if account else None,
        "lines": moved,
    }
    uow.conn.execute(
        t.returns.insert().values(
            return_key=return_key,
            order_key=order_key,
            account_id=order.account_id,
            request_hash=digest,
            points_taken_back=taken,
            points_given_back=give,
            shortfall=shortfall,
            result=result,
            created_at=now,
        )
    )
    if order.account_id is not None:
        data = {k: result[k] for k in ("order_id", "return_id", "points_taken_back", "points_given_back", "balance")}
        uow.emit(Event(EventKind.ORDER_RETURNED, order.account_id, now, data), now)
    return result


def cancel(uow: UnitOfWork, order_key: str, now: datetime) -> dict[str, Any]:
    """Cancel an order: a reservation is released; a confirmed order returns everything not yet returned."""
    order, _ = _lock_order(uow, order_key, now)
    if order.status in ("reserved", "released"):
        checkout.release(uow, order_key, now)
        uow.conn.execute(update(t.orders).where(t.orders.c.order_key == order_key).values(status="cancelled"))
        return _cancelled_reservation(order)
    cancel_key = f"{order_key}{CANCEL_SUFFIX}"
    if order.status == "cancelled":
        existing = uow.conn.execute(
            select(t.returns.c.result).where(t.returns.c.order_key == order_key, t.returns.c.return_key == cancel_key)
        ).scalar()
        return dict(existing) if existing else _cancelled_reservation(order)
    left = [
        (r.line_id, r.quantity - r.returned_quantity)
        for r in uow.conn.execute(
            select(t.order_lines).where(t.order_lines.c.order_key == order_key).order_by(t.order_lines.c.line_no)
        )
        if r.quantity > r.returned_quantity
    ]
    if left:
        result = return_lines(uow, order_key, cancel_key, left, now, _cancelling=True)
    else:
        result = {
            "order_id": order_key,
            "return_id": cancel_key,
            "points_taken_back": 0,
            "points_given_back": 0,
            "shortfall": 0,
            "lines": [],
        }
        uow.conn.execute(
            t.returns.insert().values(
                return_key=cancel_key,
                order_key=order_key,
                account_id=order.account_id,
                request_hash="",
                points_taken_back=0,
                points_given_back=0,
                shortfall=0,
                result=result,
                created_at=now,
            )
        )
    uow.conn.execute(
        update(t.orders).where(t.orders.c.order_key == order_key).values(status="cancelled", updated_at=now)
    )
    result["status"] = "cancelled"
    uow.conn.execute(
        update(t.returns)
        .where(t.returns.c.order_key == order_key, t.returns.c.return_key == cancel_key)
        .values(result=result)
    )
    return result


def _cancelled_reservation(order: Row[Any]) -> dict[str, Any]:
    """What cancelling a reservation answers, the first time and every retry: a reservation holds the points it
    would apply (its stored result's `points_applied`) until released, so that is what its cancellation released."""
    return {
        "order_id": order.order_key,
        "status": "cancelled",
        "points_released": order.result.get("points_applied", 0),
    }
