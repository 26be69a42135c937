"""The checkout: calculate (no side effects), reserve, confirm (exactly once by order id), release, cancel.

Each writing use case runs in the caller's unit of work: it locks the member's account first, so that two
requests for one balance are serialised, then reads the order by its id and decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Row, select, update

from loyalty.campaigns import offerings
from loyalty.campaigns.model import Campaign
from loyalty.checkout import orders
from loyalty.checkout.cart import Cart
from loyalty.checkout.holdouts import held_out_quote
from loyalty.checkout.quote import Quote, quote
from loyalty.checkout.requests import OrderRequest, quote_result
from loyalty.core.errors import Conflict, InvalidInput, LoyaltyError, NotFound
from loyalty.experiments import service as experiments
from loyalty.experiments.model import Holdout, Withholds
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.ledger.model import EntryKind, Provenance
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
        held = accounts.held(uow, account, except_order=request.order_key or None)
        available, restricted = accounts.spendable_split(uow, account, request.occurred_at, held)
    q, _, _ = _quote(uow, version.program, cart, member_id, available, request.points, restricted=restricted)
    result = quote_result(request.order_key or None, "quote", member_id, version, q, request.occurred_at)
    result["balance_available"] = available
    return result


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
    existing = orders.find(uow, request.order_key)
    if existing is not None:
        replay = orders.replay(existing, digest, "reserve")
        return replay if replay is not None else dict(existing.result)
    held = accounts.held(uow, account, except_order=request.order_key)
    available, restricted = accounts.spendable_split(uow, account, request.occurred_at, held)
    q, _, _ = _quote(uow, version.program, cart, member_id, available, request.points, restricted=restricted)
    result = quote_result(request.order_key, "reserved", member_id, version, q, request.occurred_at)
    result["hold_expires_at"] = (now + hold).isoformat()
    raced = orders.insert_new(
        uow, request, member_id, version, q, digest, "reserved", result, now, hold_until=now + hold
    )
    if raced is not None:
        replay = orders.replay(raced, digest, "reserve")
        return replay if replay is not None else dict(raced.result)
    accounts.hold(uow, account, now + hold)
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
    When this call (not an earlier one) confirmed the order, its result is also appended to `confirmed`.

    An order with a body is taken to be new: it is quoted and inserted without first looking for its id, and only
    when the insert finds the id taken (a retry, the confirmation of a reservation, a racing request) is it decided
    again, knowing the order recorded under that id. Nothing was written before the insert, so nothing is undone.
    """
    existing = None
    if request is None:
        existing = orders.find(uow, order_key or "")
        if existing is None:
            raise NotFound(f"no order {order_key}; send the order to confirm it")
        request = orders.stored_request(existing)
    account = _lock(uow, request, now)
    if existing is not None:
        existing = orders.find(uow, request.order_key)  # again under the lock: it may have just been confirmed
    outcome = _confirm(uow, request, account, existing, now)
    if outcome is None:
        existing = orders.find(uow, request.order_key)
        if existing is None:  # orders are never deleted
            raise RuntimeError(f"order {request.order_key} was neither inserted nor found")
        outcome = _confirm(uow, request, _lock(uow, request, now), existing, now)
        assert outcome is not None  # an order that exists is never inserted
    result, recorded = outcome
    if recorded and confirmed is not None:
        confirmed.append(result)
    return result


def _lock(uow: UnitOfWork, request: OrderRequest, now: datetime) -> Account | None:
    return members.account(uow, request.member, now, lock=True) if request.member is not None else None


class _Priced(NamedTuple):
    """A confirmed order as priced, before anything is written."""

    request: OrderRequest
    version: ProgramVersion
    quote: Quote
    offer: offerings.Offerings
    digest: str
    held: int
    result: dict[str, Any]
    holdout: Holdout | None  # the experiment's control group the order is in, if any


def _confirm(
    uow: UnitOfWork, request: OrderRequest, account: Account | None, existing: Row[Any] | None, now: datetime
) -> tuple[dict[str, Any], bool] | None:
    """Confirm `request` for the (locked) `account`, knowing the order already recorded under its id (`existing`),
    or assuming there is none: then None when its id turns out to be taken, nothing written. The result, and
    whether this call recorded it (rather than replayed it)."""
    try:
        priced = _price(uow, request, account, existing)
    except LoyaltyError:
        # An order sent again may fail what a new one must pass (the points it spent are spent): then the order
        # recorded under its id decides.
        if existing is None and orders.order_exists(uow, request.order_key):
            return None
        raise
    if isinstance(priced, dict):
        return priced, False
    return _record(uow, priced, account, existing, now)


def _price(
    uow: UnitOfWork, request: OrderRequest, account: Account | None, existing: Row[Any] | None
) -> _Priced | dict[str, Any]:
    """The order priced by the version in force when it happened, its spend and earnings posted to the account (in
    memory); or the result `existing` recorded, when the request repeats it."""
    member_id = account.account_id if account is not None else None
    if existing is not None and not request.occurred_at_given:
        # A body without occurred_at that confirms a reservation (or retries) happened when it was first sent.
        request = replace(request, occurred_at=existing.occurred_at)
    version = programs.version_at(uow, request.occurred_at)
    cart = request.cart(version.program)
    digest = request.digest(member_id, cart)
    if existing is not None:
        replay = orders.replay(existing, digest, "confirm")
        if replay is not None:
            return replay
    held, available, restricted = 0, 0, dict[Decimal, int]()
    if account is not None:
        if request.points:  # the spend draws from them: load them now, rather than count them and then load them
            accounts.load_lots(uow, account)
        held = accounts.held(uow, account, except_order=request.order_key)  # read once, for the quote and the spend
        available, restricted = accounts.spendable_split(uow, account, request.occurred_at, held)
    q, offer, holdout = _quote(uow, version.program, cart, member_id, available, request.points, restricted=restricted)
    if account is not None and (limits := offerings.lock_budgets(uow, offer, q.earned_by_rule)) is not None:
        # Another order used some of a campaign's budget since this quote read it: quote again with what is left.
        offer = replace(offer, limits=limits)
        q, offer, holdout = _quote(uow, version.program, cart, member_id, available, request.points, offer, restricted)
    result = quote_result(request.order_key, "confirmed", member_id, version, q, request.occurred_at)
    return _Priced(request, version, q, offer, digest, held, result, holdout)


def _record(
    uow: UnitOfWork, priced: _Priced, account: Account | None, existing: Row[Any] | None, now: datetime
) -> tuple[dict[str, Any], bool] | None:
    """Write the priced order: a new one (None, writing nothing, when its id is taken after all), or the reservation
    `existing` confirmed."""
    request, version, q, offer, digest, held, result, holdout = priced
    member_id = account.account_id if account is not None else None
    # An order held out of the whole program is marked so: it earned nothing and counts towards no tier.
    withheld_by = holdout.experiment_id if holdout is not None and holdout.withholds is Withholds.PROGRAM else None
    spend_entry, earn_lots = None, list[int]()
    if account is not None:
        if q.points_applied:
            accounts.load_lots(uow, account)  # loaded by _price already, unless a retry found the order taken
        spend_entry, earn_lots = post(account, version, q, request, offer, held)
    if existing is None:
        if not orders.insert(
            uow,
            request,
            member_id,
            version,
            q,
            digest,
            "confirmed",
            result,
            now,
            spend_entry,
            earn_lots,
            program_withheld_by=withheld_by,
        ):
            return None  # the account's changes are dropped unwritten
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
                program_withheld_by=withheld_by,
            )
        ).rowcount
        if changed != 1:
            raise Conflict(f"order {request.order_key} is no longer reserved")
        uow.conn.execute(t.order_lines.delete().where(t.order_lines.c.order_key == request.order_key))
        uow.conn.execute(t.order_lines.insert(), orders.line_rows(request.order_key, member_id, q))
    if account:
        accounts.flush(uow, account)
        offerings.record_given(uow, offer, account.account_id, q.earned_by_rule)
        if withheld_by is None:  # a held-out order moves no tier (tiers.service)
            tiers.after_order(uow, account, version.program, request.occurred_at, request.order_key)
    return result, True


def _quote(
    uow: UnitOfWork,
    program: Program,
    cart: Cart,
    member_id: int | None,
    available: int,
    points: int,
    offer: offerings.Offerings | None = None,
    restricted: Mapping[Decimal, int] | None = None,
) -> tuple[Quote, offerings.Offerings, Holdout | None]:
    """The domain's quote, with the campaigns in force and what the program's conditions and the campaigns need
    to know about the member; and the experiment's control group the order falls in, if any."""
    if offer is None:
        offer = offerings.offerings(uow, program, member_id, cart.occurred_at)
    attributes = member_attributes(uow, program, member_id, {line.sku for line in cart.lines}, offer.campaigns)
    attributes.update(offer.attributes)
    if (held := experiments.holdout(uow, member_id, cart.store, cart.occurred_at)) is not None:
        return (*held_out_quote(held, program, cart, available, points, attributes, offer, restricted), held)
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
    return q, offer, None


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


def post(
    account: Account,
    version: ProgramVersion,
    q: Quote,
    request: OrderRequest,
    offer: offerings.Offerings,
    held: int,
) -> tuple[int | None, list[int]]:
    """The ledger entries of a confirmed order, posted to `account` (whose lots are loaded when it spends): the
    spend (leaving alone the `held` points of other orders' holds), then one accrual per rule, tier, campaign or
    offer that earned; a campaign's entry names the revision that gave it. The numbers of the spend's entry and of
    the lots credited."""
    spend_entry = None
    if q.points_applied:
        spend_entry = account.spend(
            q.points_applied,
            request.occurred_at,
            Provenance(program_version=version.number, rule_id="redemption", order_key=request.order_key),
            held=held,
            caps=dict(q.spend_caps),
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
                Provenance(
                    program_version=version.number, rule_id=rule_id, order_key=request.order_key, details=details
                ),
            )
            earn_lots.append(entry_no - 1)  # credit() numbers the lot just before its entry
    return spend_entry, earn_lots


def release(uow: UnitOfWork, order_key: str, now: datetime) -> dict[str, Any]:
    """Let go of a reservation's hold. Releasing twice is harmless; a confirmed order cannot be released."""
    existing = orders.find(uow, order_key)
    if existing is None:
        raise NotFound(f"no order {order_key}")
    if existing.account_id is not None:
        accounts.lock(uow, existing.account_id, now)
        existing = orders.find(uow, order_key)  # again under the lock: a concurrent confirm may have just committed
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
