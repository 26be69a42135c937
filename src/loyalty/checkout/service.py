"""The checkout: calculate (no side effects), reserve, confirm (exactly once by order id), release, cancel.

Each writing use case runs in the caller's unit of work: it locks the member's account first, so that two
requests for one balance are serialised, then reads the order by its id and decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Insert, Row, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.campaigns import offerings
from loyalty.campaigns.model import Campaign
from loyalty.checkout.quote import Cart, Quote, quote
from loyalty.checkout.requests import OrderRequest, quote_result
from loyalty.core.errors import Conflict, InvalidInput, NotFound
from loyalty.ledger.model import EntryKind
from loyalty.ledger.repository import Account
from loyalty.members import service as members
from loyalty.members import views
from loyalty.program import service as programs
from loyalty.program.model import Program, ProgramVersion
from loyalty.program.rules import BirthdayCondition, ViewedCondition
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from loyalty.tiers import service as tiers

DEFAULT_HOLD = timedelta(minutes=15)


def calculate(uow: UnitOfWork, request: OrderRequest, now: datetime) -> dict[str, Any]:
    """What the cart would pay and earn if confirmed now. Reads only."""
    account = members.account(uow, request.member, now, lock=False) if request.member is not None else None
    member_id = account.account_id if account is not None else None
    version = programs.version_at(uow, request.occurred_at)
    cart = request.cart(version.program)
    available, restricted = 0, dict[Decimal, int]()
    if account is not None:
        available, restricted = account.spendable_split(request.occurred_at, except_order=request.order_key or None)
    q, _ = _quote(uow, version.program, cart, member_id, available, request.points, restricted=restricted)
    result = quote_result(request.order_key or None, "quote", member_id, version, q, request.occurred_at)
    result["balance_available"] = available
    return result


def order_exists(uow: UnitOfWork, order_key: str) -> bool:
    return uow.conn.execute(_ORDER_EXISTS, {"order_key": order_key}).first() is not None


def _find(uow: UnitOfWork, order_key: str) -> Row[Any] | None:
    return uow.conn.execute(_FIND_ORDER, {"order_key": order_key}).first()


def _replay(existing: Row[Any], digest: str, action: str) -> dict[str, Any] | None:
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


def reserve(uow: UnitOfWork, request: OrderRequest, now: datetime, hold: timedelta = DEFAULT_HOLD) -> dict[str, Any]:
    """Hold the points for a checkout until `hold` passes; then the hold lapses by itself."""
    if request.member is None:
        raise InvalidInput.at("member", "a reservation holds a member's points, so it needs a member")
    if not timedelta(seconds=1) <= hold <= timedelta(days=7):
        raise InvalidInput.at("hold_seconds", "must be between 1 second and 7 days")
    account = members.account(uow, request.member, now, lock=True)
    member_id = account.account_id
    version = programs.version_at(uow, request.occurred_at)
    cart = request.cart(version.program)
    digest = request.digest(member_id, cart)
    existing = _find(uow, request.order_key)
    if existing is not None:
        replay = _replay(existing, digest, "reserve")
        return replay if replay is not None else dict(existing.result)
    available, restricted = account.spendable_split(request.occurred_at, except_order=request.order_key)
    q, _ = _quote(uow, version.program, cart, member_id, available, request.points, restricted=restricted)
    result = quote_result(request.order_key, "reserved", member_id, version, q, request.occurred_at)
    result["hold_expires_at"] = (now + hold).isoformat()
    raced = _insert_new(uow, request, member_id, version, q, digest, "reserved", result, now, hold_until=now + hold)
    if raced is not None:
        replay = _replay(raced, digest, "reserve")
        return replay if replay is not None else dict(raced.result)
    account.hold(now + hold)
    return result


def confirm(
    uow: UnitOfWork,
    request: OrderRequest | None,
    now: datetime,
    order_key: str | None = None,
    confirmed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Record the order and its points exactly once. A retry with the same body returns the first result; the
    same id with another body is a Conflict that changes nothing. Without a body it confirms a reservation.
    When this call (not an earlier one) confirmed the order, its result is also appended to `confirmed`."""
    if request is None:
        existing = _find(uow, order_key or "")
        if existing is None:
            raise NotFound(f"no order {order_key}; send the order to confirm it")
        request = OrderRequest.from_json(existing.order_key, existing.request)
    account = members.account(uow, request.member, now, lock=True) if request.member is not None else None
    member_id = account.account_id if account is not None else None
    existing = _find(uow, request.order_key)
    if existing is not None and not request.occurred_at_given:
        # A body without occurred_at that confirms a reservation (or retries) happened when it was first sent.
        request = replace(request, occurred_at=existing.occurred_at)
    version = programs.version_at(uow, request.occurred_at)
    cart = request.cart(version.program)
    digest = request.digest(member_id, cart)
    if existing is not None:
        replay = _replay(existing, digest, "confirm")
        if replay is not None:
            return replay
    if account is not None and request.points:
        account.lots()  # the spend draws from them: load them now, rather than count them and then load them
    available, restricted = (
        account.spendable_split(request.occurred_at, except_order=request.order_key) if account else (0, {})
    )
    q, offer = _quote(uow, version.program, cart, member_id, available, request.points, restricted=restricted)
    if account is not None and (limits := offerings.lock_budgets(uow, offer, q.earned_by_rule)) is not None:
        # Another order used some of a campaign's budget since this quote read it: quote again with what is left.
        offer = replace(offer, limits=limits)
        q, offer = _quote(uow, version.program, cart, member_id, available, request.points, offer, restricted)
    result = quote_result(request.order_key, "confirmed", member_id, version, q, request.occurred_at)
    spend_entry, earn_lots = _post(account, version, q, request, offer) if account else (None, [])
    if existing is None:
        raced = _insert_new(
            uow, request, member_id, version, q, digest, "confirmed", result, now, spend_entry, earn_lots
        )
        if raced is not None:  # the account's changes are dropped unwritten: the first request's result stands
            replay = _replay(raced, digest, "confirm")
            if replay is None:
                raise Conflict(f"order {request.order_key} is being reserved by another request; retry")
            return replay
    else:
        # One conditional UPDATE: only a reservation still in that state becomes confirmed.
        changed = uow.conn.execute(
            update(t.orders)
            .where(t.orders.c.order_key == request.order_key, t.orders.c.status == "reserved")
            .values(
                status="confirmed",
                points_applied=q.points_applied,
                points_earned=q.points_to_earn,
                hold_points=0,
                spend_entry_no=spend_entry,
                earn_lots=earn_lots,
                result=result,
                updated_at=now,
            )
        ).rowcount
        if changed != 1:
            raise Conflict(f"order {request.order_key} is no longer reserved")
        uow.conn.execute(t.order_lines.delete().where(t.order_lines.c.order_key == request.order_key))
        uow.conn.execute(t.order_lines.insert(), _line_rows(request.order_key, member_id, q))
    if account:
        account.flush()
        offerings.record_given(uow, offer, account.account_id, q.earned_by_rule)
        tiers.after_order(uow, account, version.program, request.occurred_at, request.order_key)
    if confirmed is not None:
        confirmed.append(result)
    return result


def _quote(
    uow: UnitOfWork,
    program: Program,
    cart: Cart,
    member_id: int | None,
    available: int,
    points: int,
    offer: offerings.Offerings | None = None,
    restricted: Mapping[Decimal, int] | None = None,
) -> tuple[Quote, offerings.Offerings]:
    """The domain's quote, with the campaigns in force and what the program's conditions and the campaigns need
    to know about the member."""
    if offer is None:
        offer = offerings.offerings(uow, program, member_id, cart.occurred_at)
    attributes = member_attributes(uow, program, member_id, {line.sku for line in cart.lines}, offer.campaigns)
    attributes.update(offer.attributes)
    q = quote(
        program,
        cart,
        available=available,
        requested=points,
        is_member=member_id is not None,
        member_attributes=attributes,
        campaigns=offer.campaigns,
        campaign_limits=offer.limits,
        restricted=restricted,
    )
    return q, offer


def member_attributes(
    uow: UnitOfWork,
    program: Program,
    member_id: int | None,
    skus: set[str] | None = None,
    offers: Sequence[Campaign] = (),
) -> dict[str, object]:
    """What the program's conditions (and those of the campaigns in force) may read about the member — the tier
    they hold, their birth date, what they viewed — read only when a condition needs it."""
    attributes: dict[str, object] = {}
    if member_id is None:
        return attributes
    if program.tiers is not None:
        # No stored tier (or one the program no longer has) is the program's base level.
        attributes["tier"] = program.tiers.level(tiers.tier_of(uow, member_id)).id
    conditions = [c for rule in program.earning.rules for c in rule.conditions]
    conditions += [c for offer in offers for c in offer.conditions]
    if any(isinstance(c, BirthdayCondition) for c in conditions):
        attributes["birth_date"] = uow.conn.execute(
            select(t.members.c.birth_date).where(t.members.c.member_id == member_id)
        ).scalar()
    if skus and any(isinstance(c, ViewedCondition) for c in conditions):
        attributes["viewed"] = views.viewed(uow, member_id, skus)
    return attributes


def _post(
    account: Account, version: ProgramVersion, q: Quote, request: OrderRequest, offer: offerings.Offerings
) -> tuple[int | None, list[int]]:
    """The ledger entries of a confirmed order: the spend, then one accrual per rule, tier, campaign or offer that
    earned; a campaign's entry names the revision that gave it."""
    meta: dict[str, Any] = {"program_version": version.number, "order_key": request.order_key}
    spend_entry = None
    if q.points_applied:
        spend_entry = account.spend(
            q.points_applied,
            request.occurred_at,
            except_order=request.order_key,
            caps=dict(q.spend_caps),
            rule_id="redemption",
            **meta,
        )
    earn_lots = []
    for rule_id, points in q.earned_by_rule.items():
        if points > 0:
            revision = offer.revision(rule_id)
            details = {"campaign_revision": revision} if revision is not None else None
            entry_no = account.credit(
                EntryKind.EARN,
                points,
                request.occurred_at,
                q.available_at,
                q.expires_at,
                rule_id=rule_id,
                details=details,
                **meta,
            )
            earn_lots.append(entry_no - 1)  # credit() numbers the lot just before its entry
    return spend_entry, earn_lots


def _insert_new(uow: UnitOfWork, request: OrderRequest, *args: Any, **kwargs: Any) -> Row[Any] | None:
    """Insert a new order; None when done. Two requests for one order id are serialised by the member's account
    lock, except the orders of non-members and one id sent for two members: then the second insert finds the key
    taken (on PostgreSQL, once the first transaction has committed) and inserts nothing, and the order the first
    request recorded is returned, for the caller to replay it or refuse."""
    if _insert_order(uow, request, *args, **kwargs):
        return None
    raced = _find(uow, request.order_key)
    if raced is None:  # orders are never deleted
        raise RuntimeError(f"order {request.order_key} was neither inserted nor found")
    return raced


def _insert_order(
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
) -> bool:
    """Insert the order and its lines; False, inserting nothing, when its id is taken."""
    inserted = uow.conn.execute(
        _INSERT_ORDER[uow.conn.dialect.name],
        {
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
        },
    ).rowcount
    if not inserted:
        return False
    if status == "confirmed":
        uow.conn.execute(_INSERT_LINES, _line_rows(request.order_key, member_id, q))
    return True


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


def _line_rows(order_key: str, member_id: int | None, q: Quote) -> list[dict[str, Any]]:
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


def release(uow: UnitOfWork, order_key: str, now: datetime) -> dict[str, Any]:
    """Let go of a reservation's hold. Releasing twice is harmless; a confirmed order cannot be released."""
    existing = _find(uow, order_key)
    if existing is None:
        raise NotFound(f"no order {order_key}")
    if existing.account_id is not None:
        Account.lock(uow, existing.account_id, now)
        existing = _find(uow, order_key)  # again under the lock: a concurrent confirm may have just committed
        assert existing is not None
    if existing.status in ("released",):
        return {
            "order_id": order_key,
            "status": "released",
            "points_released": existing.result.get("points_applied", 0),
        }
    if existing.status != "reserved":
        raise Conflict(f"order {order_key} is {existing.status}; only a reservation can be released")
    uow.conn.execute(
        update(t.orders)
        .where(t.orders.c.order_key == order_key, t.orders.c.status == "reserved")
        .values(status="released", hold_points=0, updated_at=now)
    )
    return {"order_id": order_key, "status": "released", "points_released": existing.hold_points}


def get_order(uow: UnitOfWork, order_key: str) -> dict[str, Any]:
    """An order with its result, what was returned of each line, and its ledger entries."""
    from loyalty.ledger.service import entry_json

    order = _find(uow, order_key)
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
