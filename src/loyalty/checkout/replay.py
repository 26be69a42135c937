"""Purchase history replayed in memory and written in bulk: the import of many orders at once.

Confirming a file of orders one by one costs a dozen statements per order. The replay reads once what the file's
members already have (accounts, live lots, tiers, the orders that count towards them), applies to each order, in
the order they happened, exactly the checkout's own steps — the version in force, the cart, the quote, the spend
and the accruals on the ledger's `Account`, the tier reached — and gathers the rows those steps produce, to write
them in a few large batches (`loyalty.storage.bulk`). Nothing here decides a rule: the quote, the account, the
registration bonus and the tier move are the checkout's, the ledger's, the engagement's and the tiers' own
functions, and the rows are built by the same functions the one-by-one path writes with. So the two paths leave the
same ledger, which a property test checks, entry by entry.

Campaigns and personal offers in force at an order's time are applied as the checkout applies them (`Offers`): the
member's segments and lists as they stand, each campaign's budget and each member's cap counted down order by order,
what each gave written at the end as confirming would have left it.

What the replay does not model it refuses (`NotReplayable`), and the caller confirms order by order instead: an
experiment running at an order's time (its control group's orders are priced apart), rules or campaigns on
birthdays or viewed products, a member named other than by external id, members unknown without `create_members`,
a reservation still holding points, an order recorded earlier that is still a reservation."""

from __future__ import annotations

import gc
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, case, func, select, update

from loyalty.campaigns import offerings
from loyalty.checkout.orders import line_rows, order_row
from loyalty.checkout.quote import quote
from loyalty.checkout.requests import OrderRequest, quote_result
from loyalty.checkout.service import post
from loyalty.core.errors import Conflict, InvalidInput, LoyaltyError
from loyalty.core.events import Event, EventKind
from loyalty.engagement import actions
from loyalty.experiments import service as experiments
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.ledger.events import events_of
from loyalty.ledger.model import Lot
from loyalty.ledger.repository import draw_rows, entry_rows, lot_rows
from loyalty.members import service as members_service
from loyalty.members.service import MemberInput
from loyalty.program import service as programs
from loyalty.program.model import Program, ProgramVersion
from loyalty.program.rules import BirthdayCondition, ViewedCondition
from loyalty.program.tiers import TierBasis
from loyalty.referrals.model import new_code
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.bulk import BulkWriter
from loyalty.storage.database import UnitOfWork
from loyalty.tiers import service as tiers

Order = tuple[int, OrderRequest, str | None]  # line of the file, the order, the member's canonical external id
CHUNK = 5000  # ids per IN (...) list when reading what the file's members and orders already have
CHUNK_ORDERS = 20_000  # orders taken at a time from the stream
KEPT_MEMBERS = 50_000  # members kept in memory; beyond, those not seen for longest are written and let go


def in_batches(values: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


class Rows(Protocol):
    """Where the replay puts the rows an order produces: the bulk writer, or a simulation's tally."""

    def add(self, table: Table, row: dict[str, Any]) -> None: ...

    def extend(self, table: Table, rows: Iterable[dict[str, Any]]) -> None: ...

    def lot(self, row: dict[str, Any]) -> None: ...

    def remainder(self, account_id: int, lot_no: int, remaining: int) -> None: ...


class NotReplayable(Exception):
    """The history needs something the replay does not model; confirm it order by order."""


@dataclass
class Outcome:
    created: int = 0
    unchanged: int = 0
    members_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Member:
    """What the replay keeps of one member while it runs."""

    account: Account
    registered_at: datetime | None = None  # a member the replay registers, at their first order
    tier: str | None = None  # the tier held (None: the base level)
    tier_stored: bool = False  # member_tiers has a row for the member (before the replay or written by it)
    tier_move: tiers.Move | None = None  # the last move the replay made, written at the end
    history: int = 0  # rows of tier_history
    # The orders that count towards a tier, in time order: (occurred_at, net amount in minor units, counts as an
    # order), where the qualifying window starts among them and the running totals from there; `sliding` is false
    # once an order came before a stored one, and the window is then added up afresh each time.
    orders: list[tuple[datetime, int, bool]] = field(default_factory=list)
    start: int = 0
    spend: int = 0
    count: int = 0
    sliding: bool = True
    seen: int = 0  # the last chunk with an order of theirs: who is written and let go first (`_Replay.let_go`)


def replay_orders(
    uow: UnitOfWork,
    orders: Iterable[Order],
    now: datetime,
    *,
    create_members: bool = False,
    redeem: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Import `orders`, which come in the order they happened (by instant, then line), as `checkout.confirm` would
    one by one (see `checkout.imports`), in the caller's unit of work. They are taken a chunk at a time, so a long
    stream is never all in memory: what stays is each member's account. Raises NotReplayable when the history needs
    the one-by-one path, or when the orders turn out not to be in time order; the caller then rolls back whatever
    was written. The errors of bad orders are returned, and the caller then rolls everything back too."""
    replay = _Replay(uow, now, create_members, redeem)
    outcome = Outcome()
    last: tuple[datetime, int] | None = None
    keys_then: set[str] = set()  # the ids of the orders at the last instant: an id twice is not replayable
    chunk: list[Order] = []
    with collector_paused():
        for order in orders:
            place = (order[1].occurred_at, order[0])
            if last is not None and place < last:
                raise NotReplayable(f"the orders are not in time order (line {order[0]})")
            if last is None or place[0] != last[0]:
                keys_then = set()
            if order[1].order_key in keys_then:
                raise NotReplayable(f"order {order[1].order_key} comes twice (line {order[0]})")
            keys_then.add(order[1].order_key)
            last = place
            chunk.append(order)
            if len(chunk) == CHUNK_ORDERS:
                replay.run(chunk, outcome)
                chunk = []
                if progress is not None:
                    progress(CHUNK_ORDERS)
                gc.collect(1)
        replay.run(chunk, outcome)
        if progress is not None:
            progress(len(chunk))
        if not outcome.errors:
            if replay.offers is not None:
                replay.offers.write(uow, replay.writer)
            _finish(uow, replay.writer, replay.members)
    return outcome


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a replay runs. The replay keeps up to KEPT_MEMBERS accounts and their
    lots: a full collection walks them all, again and again as they grow, and took about half of an import's time.
    The caller collects the young generations between chunks (`gc.collect(1)`), so garbage in cycles does not pile
    up."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Replay:
    """The replay's state across chunks: members met so far, program versions and campaigns checked."""

    def __init__(self, uow: UnitOfWork, now: datetime, create_members: bool, redeem: bool) -> None:
        self.uow, self.now, self.create_members, self.redeem = uow, now, create_members, redeem
        self.version_at = _versions(uow)
        self.writer = _Writer(uow)
        self.ids: dict[str | None, int] = {}
        self.members: dict[int, Member] = {}
        self.checked: set[int] = set()
        self.offers = Offers(uow, _budgets_left(uow)) if stamps.get(uow, stamps.CAMPAIGNS) is not None else None
        self.let_go: set[int] = set()  # members written and dropped from memory: read back if they order again
        self.chunks = 0

    def run(self, chunk: list[Order], outcome: Outcome) -> None:
        if not chunk:
            return
        self.chunks += 1
        uow, now, version_at, writer = self.uow, self.now, self.version_at, self.writer
        _check_program(uow, chunk, version_at, self.checked, self.offers)
        known = set(self.ids)
        _members(uow, chunk, self.create_members, self.ids)
        existing_orders = _existing_orders(uow, [r.order_key for _, r, _ in chunk])
        fresh = [i for e, i in self.ids.items() if e not in known and i > 0]
        self.members.update(_load(uow, fresh, now))
        if self.offers is not None:
            self.offers.load(fresh)
        back = sorted({self.ids[e] for _, _, e in chunk if e is not None and self.ids.get(e, 0) in self.let_go})
        if back:  # their rows were all written when they were let go
            self.members.update(_load(uow, back, now))
            self.let_go.difference_update(back)
        new_members = _register(uow, writer, chunk, self.ids, self.members, now)
        outcome.members_created += len(new_members)
        for line, request, external_id in chunk:
            member_id = self.ids[external_id] if external_id is not None else None
            member = self.members.get(member_id) if member_id is not None else None
            if member is not None:
                member.seen = self.chunks
            try:
                stored = existing_orders.get(request.order_key)
                if stored is not None:
                    _check_repeat(stored, request, member_id, version_at, self.redeem)
                    outcome.unchanged += 1
                else:
                    if member_id in new_members and new_members[member_id] is request:
                        registration(writer, self.members[member_id], now, version_at)
                    confirm(writer, request, member_id, member, now, version_at, self.redeem, self.offers)
                    outcome.created += 1
            except LoyaltyError as error:
                outcome.errors.append((line, f"order {request.order_key}: {error}"))
        if len(self.members) > KEPT_MEMBERS and not outcome.errors:
            self.keep(KEPT_MEMBERS // 2)

    def keep(self, n: int) -> None:
        """Keep the `n` members seen last; write the others as `_finish` would (accounts, tiers, every row
        gathered so far, lot remainders) and let them go, so memory holds the members buying now, not all."""
        by_age = sorted(self.members, key=lambda i: self.members[i].seen)
        gone = {i: self.members.pop(i) for i in by_age[: len(by_age) - n]}
        _finish(self.uow, self.writer, gone)
        self.writer.remainders.clear()
        self.let_go.update(gone)


def _versions(uow: UnitOfWork) -> Callable[[datetime], ProgramVersion]:
    lookup = programs.versions_in_force(uow)
    cache: dict[int, ProgramVersion] = {}

    def version_at(at: datetime) -> ProgramVersion:
        number = lookup(at)
        if number is None:
            return programs.version_at(uow, at)  # raises NoProgram with its message
        found = cache.get(number)
        if found is None:
            found = cache[number] = programs.version_at(uow, at)
        return found

    return version_at


def _check_program(
    uow: UnitOfWork,
    ordered: Sequence[Order],
    version_at: Callable[[datetime], ProgramVersion],
    checked: set[int],
    offers: Offers | None,
) -> None:
    """Refuse what the replay does not model (the module's docstring lists it); `checked` are the versions earlier
    chunks found fine."""
    experimenting = experiments.in_force(uow)
    for _, request, _ in ordered:
        if any(start <= request.occurred_at < end for start, end in experimenting):
            raise NotReplayable(
                f"an experiment's control group may hold out an order at {request.occurred_at.isoformat()}"
            )
        if request.member is not None and set(request.member) != {"external_id"}:
            raise NotReplayable("an order names its member other than by external id")
        try:
            version = version_at(request.occurred_at)
        except LoyaltyError:
            continue  # the order fails as it would one by one
        if version.number not in checked:
            checked.add(version.number)
            conditions = [c for rule in version.program.earning.rules for c in rule.conditions]
            if offers is not None:
                conditions += [c for campaign in offers.book(version).campaigns for c in campaign.conditions]
            if any(isinstance(c, BirthdayCondition | ViewedCondition) for c in conditions):
                raise NotReplayable(
                    f"version {version.number} or a campaign has conditions on birthdays or viewed products"
                )


def _members(uow: UnitOfWork, ordered: Sequence[Order], create: bool, ids: dict[str | None, int]) -> None:
    """Add to `ids` the member id of every external id of the chunk not in it yet; a member to create gets a
    negative placeholder, in the order of their first order, until `_register` inserts them."""
    wanted = list(dict.fromkeys(e for _, r, e in ordered if e is not None and r.member is not None and e not in ids))
    for chunk in in_batches(wanted, 5000):
        query = select(t.member_identifiers.c.value, t.member_identifiers.c.member_id).where(
            t.member_identifiers.c.kind == "external_id", t.member_identifiers.c.value.in_(chunk)
        )
        ids.update((value, int(member_id)) for value, member_id in uow.conn.execute(query))
    unknown = [e for e in wanted if e not in ids]
    if unknown and not create:
        raise NotReplayable("orders name members who are not registered")
    ids.update((e, -(n + 1)) for n, e in enumerate(unknown))


def _existing_orders(uow: UnitOfWork, keys: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    o = t.orders.c
    for chunk in in_batches(keys, 5000):
        query = select(o.order_key, o.status, o.request_hash).where(o.order_key.in_(chunk))
        found.update((row.order_key, row) for row in uow.conn.execute(query))
    if any(row.status == "reserved" for row in found.values()):
        raise NotReplayable("an order of the file is a reservation waiting to be confirmed")
    return found


def _load(uow: UnitOfWork, member_ids: list[int], now: datetime) -> dict[int, Member]:
    """The accounts of registered members as they stand, locked, with their live lots, tiers and tier orders."""
    members: dict[int, Member] = {}
    for chunk in in_batches(sorted(member_ids), 5000):
        rows = uow.conn.execute(
            select(t.accounts)
            .where(t.accounts.c.account_id.in_(chunk))
            .order_by(t.accounts.c.account_id)
            .with_for_update()
        ).all()
        for row in rows:
            if row.hold_until is not None and row.hold_until > now:
                raise NotReplayable(f"a reservation may still hold points of member {row.account_id}")
            members[row.account_id] = Member(Account(row.account_id, row.balance, row.debt, row.seq, now))
        lots: dict[int, list[Lot]] = {}
        lc = t.lots.c
        for r in uow.conn.execute(
            select(lc.account_id, lc.lot_no, lc.points, lc.remaining, lc.available_at, lc.expires_at, lc.max_share)
            .where(lc.account_id.in_(chunk), lc.remaining > 0)
            .order_by(lc.account_id, lc.lot_no)
        ):
            lots.setdefault(r.account_id, []).append(
                Lot(r.lot_no, r.points, r.remaining, r.available_at, r.expires_at, r.max_share)
            )
        for member_id, member in members.items():
            if member_id in chunk:
                member.account.load_lots(lots.get(member_id, []))
                member.account.follow_time()
        for r in uow.conn.execute(select(t.member_tiers).where(t.member_tiers.c.account_id.in_(chunk))):
            members[r.account_id].tier, members[r.account_id].tier_stored = r.tier_id, True
        history = select(t.tier_history.c.account_id, func.count()).where(t.tier_history.c.account_id.in_(chunk))
        for account_id, count in uow.conn.execute(history.group_by(t.tier_history.c.account_id)):
            members[account_id].history = int(count)
        _load_tier_orders(uow, chunk, members)
    return members


def _load_tier_orders(uow: UnitOfWork, chunk: Sequence[int], members: dict[int, Member]) -> None:
    """Every stored order that counts towards a tier, as `tiers.qualifying_value` counts it."""
    o, lines = t.orders, t.order_lines
    kept = lines.c.amount - (lines.c.amount * lines.c.returned_quantity) // lines.c.quantity
    query = (
        select(
            o.c.account_id,
            o.c.occurred_at,
            func.sum(kept),
            func.sum(case((lines.c.returned_quantity < lines.c.quantity, 1), else_=0)),
        )
        .select_from(o.join(lines, lines.c.order_key == o.c.order_key))
        .where(
            o.c.account_id.in_(chunk),
            o.c.status.in_(["confirmed", "cancelled"]),
            o.c.program_withheld_by.is_(None),  # held out of the program by an experiment: counts towards no tier
        )
        .group_by(o.c.account_id, o.c.order_key, o.c.occurred_at)
    )
    for account_id, occurred_at, spend, counted in uow.conn.execute(query):
        members[account_id].orders.append((occurred_at, int(spend), int(counted) > 0))
    for member in members.values():
        member.orders.sort(key=lambda o: o[0])
        member.spend = sum(o[1] for o in member.orders)
        member.count = sum(1 for o in member.orders if o[2])


def _register(
    uow: UnitOfWork,
    writer: _Writer,
    ordered: Sequence[Order],
    ids: dict[str | None, int],
    members: dict[int, Member],
    now: datetime,
) -> dict[int, OrderRequest]:
    """Insert the members to create, in the order of their first order (as one-by-one registration numbers them),
    registered at that order's instant; their ids replace the placeholders in `ids`. Returns each new member's
    first order, before which the replay grants their registration (`_registration`)."""
    first: dict[str, OrderRequest] = {}
    for _, request, external_id in ordered:
        if external_id is not None and ids.get(external_id, 0) < 0:
            first.setdefault(external_id, request)
    if not first:
        return {}
    codes = _codes(uow, len(first))
    rows: list[dict[str, Any]] = [
        {
            "name": None,
            "gender": None,
            "birth_date": None,
            "registered_at": request.occurred_at,
            "attributes": {},
            "referral_code": code,
        }
        for request, code in zip(first.values(), codes, strict=True)
    ]
    inserted = uow.conn.execute(
        t.members.insert().returning(t.members.c.member_id, sort_by_parameter_order=True), rows
    ).scalars()
    new: dict[int, OrderRequest] = {}
    for external_id, member_id in zip(first, inserted, strict=True):
        ids[external_id] = int(member_id)
        new[int(member_id)] = first[external_id]
        account = new_account(int(member_id), now)
        members[int(member_id)] = Member(account, registered_at=first[external_id].occurred_at)
        writer.add(t.member_identifiers, {"kind": "external_id", "value": external_id, "member_id": member_id})
    return new


def new_account(account_id: int, now: datetime) -> Account:
    """The account of a member the replay registers: empty, asked at later and later instants."""
    account = Account(account_id, 0, 0, 0, now)
    account.load_lots([])
    account.follow_time()
    return account


def _codes(uow: UnitOfWork, n: int) -> list[str]:
    """`n` referral codes, none of them taken (registration draws again when the unique index refuses one)."""
    codes: list[str] = []
    kept: set[str] = set()
    while len(codes) < n:
        drawn = [c for c in dict.fromkeys(new_code() for _ in range(n - len(codes))) if c not in kept]
        for chunk in in_batches(drawn):
            query = select(t.members.c.referral_code).where(t.members.c.referral_code.in_(chunk))
            taken = set(uow.conn.execute(query).scalars())
            fresh = [c for c in chunk if c not in taken]
            codes.extend(fresh)
            kept.update(fresh)
    return codes


def registration(writer: Rows, member: Member, now: datetime, version_at: Callable[[datetime], ProgramVersion]) -> None:
    """What `members.register` records after the member's row: the event, and the registration bonus."""
    account, registered_at = member.account, member.registered_at
    assert registered_at is not None
    writer.add(
        t.events,
        _event_row(
            Event(EventKind.MEMBER_REGISTERED, account.account_id, registered_at, {"member_id": account.account_id}),
            now,
        ),
    )
    try:
        version = version_at(registered_at)
    except programs.NoProgram:
        return
    if "registration" not in version.program.actions:
        return
    available_at, expires_at = actions.bonus_terms(version.program, "registration", registered_at)
    row = actions.credit_action(
        account,
        version,
        "registration",
        f"member-{account.account_id}",
        version.program.actions["registration"].points,
        registered_at,
        available_at,
        expires_at,
        rule_id="action.registration",
        request_hash=actions.action_hash(account.account_id, registered_at),
    )
    writer.add(t.action_events, row)
    flush_account(writer, account)


def confirm(
    writer: Rows,
    request: OrderRequest,
    member_id: int | None,
    member: Member | None,
    now: datetime,
    version_at: Callable[[datetime], ProgramVersion],
    redeem: bool,
    offers: Offers | None = None,
) -> None:
    """`checkout.confirm` of a new order, its rows gathered in `writer`; `offers`: the campaigns and offers there
    are (None: none)."""
    at = request.occurred_at
    version = version_at(at)
    program = version.program
    cart = request.cart(program)
    available, restricted = 0, dict[Decimal, int]()
    attributes: dict[str, object] = {}
    if member is not None:
        available, restricted = member.account.spendable_split(at)
        if program.tiers is not None:
            attributes["tier"] = program.tiers.level(member.tier).id
    offer = offerings.NONE if offers is None else offers.at(version, member_id, at)
    attributes.update(offer.attributes)

    def quoted(points: int) -> Any:
        return quote(
            program,
            cart,
            available=available,
            requested=points,
            is_member=member is not None,
            member_attributes=attributes,
            campaigns=offer.campaigns,
            campaign_limits=offer.limits,
            restricted=restricted,
        )

    if redeem and member is not None:
        # The import's stand-in for members spending: as many points as a quote allows (`calculate`, then confirm).
        request = replace(request, points=quoted(request.points).max_points)
    q = quoted(request.points)
    digest = request.digest(member_id, cart)
    result = quote_result(request.order_key, "confirmed", member_id, version, q, at)
    spend_entry, earn_lots = None, list[int]()
    if member is not None:
        spend_entry, earn_lots = post(member.account, version, q, request, offer, 0)
    writer.add(
        t.orders, order_row(request, member_id, version, q, digest, "confirmed", result, now, spend_entry, earn_lots)
    )
    writer.extend(t.order_lines, line_rows(request.order_key, member_id, q))
    if member is None:
        return
    flush_account(writer, member.account)
    if offers is not None:
        offers.given(offer, member.account.account_id, q.earned_by_rule)
    if program.tiers is not None:
        value = _qualifying(member, at, sum(line.amount for line in q.lines), program)
        move = tiers.upgrade(member.account.account_id, member.tier, value, program, at, request.order_key)
        if move is not None:
            member.history += 1
            writer.add(t.tier_history, move.history_row(member.history))
            writer.add(t.events, _event_row(move.event(), now))
            member.tier, member.tier_move = move.level.id, move


def _budgets_left(uow: UnitOfWork) -> dict[str, int]:
    c = t.campaigns.c
    query = select(c.campaign_id, c.budget_points - c.budget_used).where(c.budget_points.is_not(None))
    return {campaign_id: int(left) for campaign_id, left in uow.conn.execute(query)}


class Offers:
    """The campaigns and offers of a replay, with what the checkout reads of them for each order (`offerings`):
    the members' segments and lists as they stand, what is left of each campaign's budget (`budget_left`, by id)
    and what each member got from each campaign, both counted down as the replay gives points. `load` reads the
    stored part for members already registered; the replay's own new members start with nothing."""

    def __init__(self, uow: UnitOfWork, budget_left: dict[str, int], book: offerings.Book | None = None) -> None:
        self.uow = uow
        self.budget_left = budget_left
        self.fixed = book  # the one book of every version (a simulation's), else the store's, per version
        self.books: dict[int, offerings.Book] = {}
        self.segments: dict[int, set[str]] = {}
        self.listed: dict[int, set[str]] = {}
        self.used: dict[int, dict[str, int]] = {}
        self.stored: set[tuple[int, str]] = set()  # campaign_member_usage rows there before the replay
        self.budget_given: dict[str, int] = {}
        self.touched: set[tuple[int, str]] = set()  # (member, campaign) given points by the replay

    def book(self, version: ProgramVersion) -> offerings.Book:
        if self.fixed is not None:
            return self.fixed
        found = self.books.get(version.number)
        if found is None:
            found = self.books[version.number] = offerings.book(self.uow, version.program)
        return found

    def load(self, member_ids: Sequence[int]) -> None:
        sm, cm, cu = t.segment_members.c, t.campaign_members.c, t.campaign_member_usage.c
        for chunk in in_batches(sorted(member_ids)):
            for account_id, segment_id in self.uow.conn.execute(
                select(sm.account_id, sm.segment_id).where(sm.account_id.in_(chunk))
            ):
                self.segments.setdefault(account_id, set()).add(segment_id)
            for account_id, campaign_id in self.uow.conn.execute(
                select(cm.account_id, cm.campaign_id).where(cm.account_id.in_(chunk))
            ):
                self.listed.setdefault(account_id, set()).add(campaign_id)
            for account_id, campaign_id, points in self.uow.conn.execute(
                select(cu.account_id, cu.campaign_id, cu.points).where(cu.account_id.in_(chunk))
            ):
                self.used.setdefault(account_id, {})[campaign_id] = int(points)
                self.stored.add((account_id, campaign_id))

    def load_lists(self, listed: dict[str, list[int]]) -> None:
        """Every member's segments, and the members of each campaign's list — those stored, but `listed`'s for the
        campaigns it names (a simulation's own offers)."""
        sm, cm = t.segment_members.c, t.campaign_members.c
        for account_id, segment_id in self.uow.conn.execute(select(sm.account_id, sm.segment_id)):
            self.segments.setdefault(account_id, set()).add(segment_id)
        for account_id, campaign_id in self.uow.conn.execute(select(cm.account_id, cm.campaign_id)):
            if campaign_id not in listed:
                self.listed.setdefault(account_id, set()).add(campaign_id)
        for campaign_id, member_ids in listed.items():
            for member_id in member_ids:
                self.listed.setdefault(member_id, set()).add(campaign_id)

    def at(self, version: ProgramVersion, member_id: int | None, at: datetime) -> offerings.Offerings:
        """`offerings.offerings` for the member's order at `at`, from what the replay holds."""
        book = self.book(version)
        active = book.in_force(at)
        if not active:
            return offerings.NONE
        context = offerings.MemberContext()
        if member_id is not None:
            context = offerings.member_context(
                book,
                {c.id: c for c in active},
                self.segments.get(member_id, ()) if book.needs_segments else (),
                self.listed.get(member_id, ()) if book.needs_lists else (),
                self.used.get(member_id, {}),
                self.budget_left,
            )
        return offerings.offered(active, context, book)

    def given(self, offer: offerings.Offerings, account_id: int, earned: dict[str, int]) -> None:
        """`offerings.record_given`, counted here and written by `write`."""
        for campaign in offer.campaigns:
            points = earned.get(campaign.source, 0)
            if points <= 0:
                continue
            if campaign.budget is not None:
                self.budget_left[campaign.id] = self.budget_left.get(campaign.id, 0) - points
                self.budget_given[campaign.id] = self.budget_given.get(campaign.id, 0) + points
            used = self.used.setdefault(account_id, {})
            used[campaign.id] = used.get(campaign.id, 0) + points
            self.touched.add((account_id, campaign.id))

    def write(self, uow: UnitOfWork, writer: Rows) -> None:
        """What the campaigns gave: their budgets used, and each member's points from each (new rows gathered in
        `writer`, to be flushed after; stored ones updated now)."""
        c, cu = t.campaigns.c, t.campaign_member_usage.c
        if self.budget_given:
            uow.conn.execute(
                update(t.campaigns)
                .where(c.campaign_id == bindparam("id"))
                .values(budget_used=c.budget_used + bindparam("given")),
                [{"id": campaign_id, "given": n} for campaign_id, n in sorted(self.budget_given.items())],
            )
        changed = []
        for account_id, campaign_id in sorted(self.touched):
            points = self.used[account_id][campaign_id]
            if (account_id, campaign_id) in self.stored:
                changed.append({"a": account_id, "c": campaign_id, "p": points})
            else:
                writer.add(
                    t.campaign_member_usage, {"account_id": account_id, "campaign_id": campaign_id, "points": points}
                )
        if changed:
            uow.conn.execute(
                update(t.campaign_member_usage)
                .where(cu.account_id == bindparam("a"), cu.campaign_id == bindparam("c"))
                .values(points=bindparam("p")),
                changed,
            )


def _qualifying(member: Member, at: datetime, amount: int, program: Program) -> int:
    """`tiers.qualifying_value` just after an order of `amount` at `at` was recorded. Orders come in time order, so
    the window only moves forward and running totals follow it; unless a stored order lies after `at`, when the
    window is added up."""
    policy = program.tiers
    assert policy is not None
    start = policy.window_start(at, program.timezone)
    orders = member.orders
    if orders and orders[-1][0] > at:
        member.sliding = False
        orders.insert(bisect_right([o[0] for o in orders], at), (at, amount, True))
    else:
        orders.append((at, amount, True))
    if member.sliding:
        member.spend += amount
        member.count += 1
        while start is not None and orders[member.start][0] < start:
            gone = orders[member.start]
            member.spend -= gone[1]
            member.count -= 1 if gone[2] else 0
            member.start += 1
        spend, count = member.spend, member.count
    else:
        window = [o for o in orders if o[0] <= at and (start is None or o[0] >= start)]
        spend, count = sum(o[1] for o in window), sum(1 for o in window if o[2])
    return spend if policy.basis is TierBasis.SPEND else count


def _check_repeat(
    stored: Any,
    request: OrderRequest,
    member_id: int | None,
    version_at: Callable[[datetime], ProgramVersion],
    redeem: bool,
) -> None:
    """An order already recorded: the same body again is left as it is; another body under its id is a Conflict.
    With `redeem` the points it spent were chosen at import time, which a second reading cannot repeat."""
    if redeem:
        return
    cart = request.cart(version_at(request.occurred_at).program)
    if stored.request_hash != request.digest(member_id, cart):
        raise Conflict(f"order {request.order_key} was already recorded with a different body; nothing was changed")


def flush_account(writer: Rows, account: Account) -> None:
    """`ledger.repository.flush`, gathering the rows instead of writing them; the account's own row is written
    once, at the end."""
    changes = account.take_changes()
    if changes is None:
        return
    a = account.account_id
    for event in events_of(a, changes):
        writer.add(t.events, _event_row(event, account.now))
    writer.extend(t.ledger_entries, entry_rows(a, changes))
    for row in lot_rows(a, changes):
        writer.lot(row)
    writer.extend(t.lot_draws, draw_rows(a, changes))
    for no, remaining in changes.remainders:
        writer.remainder(a, no, remaining)


def _event_row(event: Event, recorded_at: datetime) -> dict[str, Any]:
    return {
        "account_id": event.account_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "recorded_at": recorded_at,
        "key": event.key,
        "data": event.data,
    }


class _Writer(BulkWriter):
    """The replay's rows. A lot is drawn from after it was credited, often before its row is written: its remainder
    is then set in the gathered row; a lot written already gets an update at the end."""

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        self.lots: dict[tuple[int, int], dict[str, Any]] = {}
        self.remainders: list[tuple[int, int, int]] = []

    def lot(self, row: dict[str, Any]) -> None:
        self.lots[(row["account_id"], row["lot_no"])] = row
        self.add(t.lots, row)

    def remainder(self, account_id: int, lot_no: int, remaining: int) -> None:
        row = self.lots.get((account_id, lot_no))
        if row is not None:
            row["remaining"] = remaining
        else:
            self.remainders.append((account_id, lot_no, remaining))

    def flush(self) -> None:
        super().flush()
        self.lots.clear()


def _finish(uow: UnitOfWork, writer: _Writer, members: dict[int, Member]) -> None:
    """The rows written once per member, as they stand at the end: accounts, tiers; and the remainders of lots
    written before they were drawn from."""
    for member in members.values():
        if member.registered_at is not None:
            a = member.account
            writer.add(t.accounts, {"account_id": a.account_id, "balance": a.balance, "debt": a.debt, "seq": a.seq})
    for member in members.values():
        move = member.tier_move
        if move is not None and not member.tier_stored:
            writer.add(t.member_tiers, {"account_id": move.account_id, **move.tier_values()})
    writer.flush()
    accounts.write_remainders(uow, writer.remainders)
    accounts.write_figures(
        uow,
        [
            (m.account.account_id, m.account.balance, m.account.debt, m.account.seq)
            for m in members.values()
            if m.registered_at is None
        ],
    )
    stored_moves = [m.tier_move for m in members.values() if m.tier_move is not None and m.tier_stored]
    if stored_moves:
        uow.conn.execute(
            update(t.member_tiers)
            .where(t.member_tiers.c.account_id == bindparam("a"))
            .values({name: bindparam(f"v_{name}") for name in stored_moves[0].tier_values()}),
            [{"a": move.account_id, **{f"v_{k}": v for k, v in move.tier_values().items()}} for move in stored_moves],
        )


def register_members(
    uow: UnitOfWork, rows: Sequence[tuple[int, MemberInput]], now: datetime
) -> tuple[int, int, list[tuple[int, str]]]:
    """Register the members of an import file, in its order, as `members.register` would one by one (an external id
    already registered, or met earlier in the file, is left as it is), and write them in bulk. Returns how many were
    created and left, and the errors of bad lines (the caller then rolls everything back). Raises NotReplayable for
    a member named with a referral code (referrals are recorded one by one)."""
    if any(member.referral_code for _, member in rows):
        raise NotReplayable("a member comes with a referral code")
    with collector_paused():
        return _register_members(uow, rows, now)


def _register_members(
    uow: UnitOfWork, rows: Sequence[tuple[int, MemberInput]], now: datetime
) -> tuple[int, int, list[tuple[int, str]]]:
    taken: dict[tuple[str, str], int] = {}
    kinds: dict[str, list[str]] = {}
    for _, member in rows:
        for kind, value in member.identifiers.items():
            kinds.setdefault(kind, []).append(value)
    ic = t.member_identifiers.c
    for kind, values in kinds.items():
        for chunk in in_batches(list(dict.fromkeys(values))):
            query = select(ic.value, ic.member_id).where(ic.kind == kind, ic.value.in_(chunk))
            taken.update(((kind, value), int(member_id)) for value, member_id in uow.conn.execute(query))
    new: list[tuple[int, MemberInput]] = []
    errors: list[tuple[int, str]] = []
    unchanged = 0
    for line, member in rows:
        if ("external_id", member.identifiers["external_id"]) in taken:
            unchanged += 1
            continue
        try:
            members_service.check_birth_date(member.birth_date, now)
        except InvalidInput as error:
            errors.append((line, str(error)))
            continue
        clash = next(((k, v) for k, v in member.identifiers.items() if (k, v) in taken), None)
        if clash is not None:
            errors.append((line, str(Conflict(f"{clash[0]} {clash[1]} already belongs to another member"))))
            continue
        taken.update(((k, v), 0) for k, v in member.identifiers.items())  # claimed by this line
        new.append((line, member))
    if errors or not new:
        return 0, unchanged, errors
    writer = _Writer(uow)
    version_at = _versions(uow)
    codes = _codes(uow, len(new))
    inserted = uow.conn.execute(
        t.members.insert().returning(t.members.c.member_id, sort_by_parameter_order=True),
        [
            {
                "name": member.name,
                "gender": member.gender,
                "birth_date": member.birth_date,
                "registered_at": member.registered_at or now,
                "attributes": member.attributes,
                "referral_code": code,
            }
            for (_, member), code in zip(new, codes, strict=True)
        ],
    ).scalars()
    registered: dict[int, Member] = {}
    for (_, member), member_id in zip(new, inserted, strict=True):
        writer.extend(
            t.member_identifiers,
            ({"kind": k, "value": v, "member_id": member_id} for k, v in member.identifiers.items()),
        )
        writer.extend(
            t.consents,
            (
                {"member_id": member_id, "kind": c.kind, "granted": c.granted, "at": c.at or now, "source": c.source}
                for c in member.consents
            ),
        )
        account = new_account(int(member_id), now)
        registered[int(member_id)] = Member(account, registered_at=member.registered_at or now)
        registration(writer, registered[int(member_id)], now, version_at)
    _finish(uow, writer, registered)
    return len(new), unchanged, []
