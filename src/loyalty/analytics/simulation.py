"""The economics simulator: the stored history replayed under another program, writing nothing.

Every member registers when they did and every order confirmed (or confirmed and later cancelled) happens when it
did, in time order, under the simulated program as if it had been in force all along — through the replay's own
steps (`checkout.replay`: the checkout's quote, the ledger's account, the registration bonus, the tier reached).
Instead of rows to write, the steps' ledger entries and orders are tallied per month of the program's time zone:
points issued (orders' accruals and action bonuses), redeemed, expired (lots burn at their expiry instant; what is
left at the end of the period burns if it expired by then), the liability at each month's end, revenue (the
orders' totals) and the program's cost. The same tally over the ledger that was actually written gives the other
column, so the two read side by side.

Members' behaviour is what changes with the rules and cannot be replayed, so it is an explicit assumption: a share
of members redeem (`redeeming_members`), and they pay with as many points as the program allows on a share of their
orders (`redeeming_orders`); who does is decided by a hash of the member's and the order's id, so a simulation is
reproducible. The defaults are the shares the history shows (`estimate_behaviour`).

Campaigns and personal offers are those that would be in force once the simulated file is published
(`publishing.as_published`): the stored ones, with those the file keeps (`campaigns:`, `offers:`) in place of the
stored ones of the same id or beside them. Each runs by its dates, its budget and caps counted from zero as the
history is replayed from its start; audiences by segment or list are the members' as they stand now."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from heapq import merge
from typing import Any

from sqlalchemy import Table, case, func, select

from loyalty.campaigns import publishing
from loyalty.checkout import replay
from loyalty.checkout.requests import OrderRequest
from loyalty.core.errors import InvalidInput
from loyalty.core.money import format_money
from loyalty.ledger.model import EntryKind
from loyalty.program.model import Program, ProgramVersion
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

SOLD = ("confirmed", "cancelled")
_ISSUED = (EntryKind.EARN.value, EntryKind.ACTION.value)
_FOUR = Decimal("0.0001")
_CAMPAIGN_SOURCES = ("campaign:", "offer:")  # the rule ids of points a campaign or a personal offer gave


@dataclass(frozen=True)
class Behaviour:
    """Who pays with points: a share of members, on a share of their orders, as much as the program allows."""

    redeeming_members: Decimal
    redeeming_orders: Decimal

    def __post_init__(self) -> None:
        for name in ("redeeming_members", "redeeming_orders"):
            value = getattr(self, name)
            if not Decimal(0) <= value <= Decimal(1):
                raise InvalidInput.at(name, "must be a share between 0 and 1")

    def redeems(self, member_id: int, order_key: str) -> bool:
        return _draw(f"member:{member_id}") < self.redeeming_members and _draw(f"order:{order_key}") < (
            self.redeeming_orders
        )


def _draw(key: str) -> Decimal:
    """A number in [0, 1) that `key` always gives."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return Decimal(int.from_bytes(digest, "big")) / Decimal(2**64)


def estimate_behaviour(uow: UnitOfWork) -> Behaviour:
    """The shares the stored history shows: members who paid with points among members who ordered, and their
    orders paid with points among their orders."""
    o = t.orders.c
    members_ordering = select(func.count(func.distinct(o.account_id))).where(
        o.status.in_(SOLD), o.account_id.is_not(None)
    )
    redeemers = select(o.account_id).where(o.status.in_(SOLD), o.points_applied > 0).distinct().subquery()
    redeeming = select(func.count()).select_from(redeemers)
    their_orders = select(func.count(), func.coalesce(func.sum(case((o.points_applied > 0, 1), else_=0)), 0)).where(
        o.status.in_(SOLD), o.account_id.in_(select(redeemers.c.account_id))
    )
    ordering = int(uow.conn.execute(members_ordering).scalar_one())
    paying = int(uow.conn.execute(redeeming).scalar_one())
    orders, paid = uow.conn.execute(their_orders).one()
    return Behaviour(_share(paying, ordering), _share(int(paid), int(orders)))


def behaviour(
    uow: UnitOfWork, redeeming_members: Decimal | None = None, redeeming_orders: Decimal | None = None
) -> Behaviour:
    """The behaviour to simulate: the shares given, the history's (`estimate_behaviour`) for those not given."""
    if redeeming_members is not None and redeeming_orders is not None:
        return Behaviour(redeeming_members, redeeming_orders)
    estimated = estimate_behaviour(uow)
    return Behaviour(
        estimated.redeeming_members if redeeming_members is None else redeeming_members,
        estimated.redeeming_orders if redeeming_orders is None else redeeming_orders,
    )


def _share(part: int, whole: int) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(_FOUR, ROUND_HALF_EVEN) if whole else Decimal(0)


@dataclass
class Month:
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    other: int = 0  # returns, adjustments: what else moved the balance
    by_campaigns: int = 0  # of `issued`: earned from campaigns and personal offers
    revenue: int = 0  # minor units
    orders: int = 0


@dataclass
class Tally:
    """Ledger entries and orders added up per month of `zone` (a `replay.Rows` that writes nothing)."""

    zone: tzinfo
    months: dict[str, Month] = field(default_factory=dict)

    def month(self, at: datetime) -> Month:
        key = at.astimezone(self.zone).strftime("%Y-%m")
        found = self.months.get(key)
        if found is None:
            found = self.months[key] = Month()
        return found

    def entry(self, kind: str, points: int, at: datetime, rule_id: str | None = None) -> None:
        month = self.month(at)
        if kind in _ISSUED:
            month.issued += points
            if rule_id is not None and rule_id.startswith(_CAMPAIGN_SOURCES):
                month.by_campaigns += points
        elif kind == EntryKind.SPEND.value:
            month.redeemed -= points
        elif kind == EntryKind.EXPIRE.value:
            month.expired -= points
        else:
            month.other += points

    def order(self, total: int, at: datetime) -> None:
        month = self.month(at)
        month.revenue += total
        month.orders += 1

    def add(self, table: Table, row: dict[str, Any]) -> None:
        if table is t.ledger_entries:
            self.entry(row["kind"], row["points"], row["occurred_at"], row["rule_id"])
        elif table is t.orders:
            self.order(row["total"], row["occurred_at"])

    def extend(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        if table is t.ledger_entries or table is t.orders:
            for row in rows:
                self.add(table, row)

    def lot(self, row: dict[str, Any]) -> None:
        pass

    def remainder(self, account_id: int, lot_no: int, remaining: int) -> None:
        pass


def simulate(
    uow: UnitOfWork,
    document: dict[str, Any],
    start: datetime,
    end: datetime,
    now: datetime,
    behaviour: Behaviour | None = None,
) -> dict[str, Any]:
    """The months of [start, end) under `document` (a program, published or a draft: InvalidInput naming its
    fields when it is not valid) beside what the ledger shows for them. The replay runs from the first member and
    order on, so balances carried into the period are the simulated program's too."""
    if end <= start:
        raise InvalidInput.at("to", "must be after from")
    program = publishing.program_of(document)
    behaviour = behaviour or estimate_behaviour(uow)
    draft = ProgramVersion(0, datetime.min.replace(tzinfo=UTC), program, document)
    book, listed = publishing.as_published(uow, document, program)
    offers = None
    if book.campaigns:
        offers = replay.Offers(uow, {c.id: c.budget for c in book.campaigns if c.budget is not None}, book)
        if book.needs_segments or book.needs_lists:
            offers.load_lists(listed)
    simulated = _replay(uow, draft, behaviour, end, now, offers)
    actual = _actual(uow, program.timezone, end)
    report = _report(program, start, end, behaviour, actual, simulated)
    report["campaigns"] = [c.source for c in book.campaigns]
    return report


def _replay(
    uow: UnitOfWork,
    draft: ProgramVersion,
    behaviour: Behaviour,
    end: datetime,
    now: datetime,
    offers: replay.Offers | None,
) -> Tally:
    """Every member and order before `end`, in time order, under `draft` and the campaigns of `offers`, tallied."""
    tally = Tally(draft.program.timezone)
    members: dict[int, replay.Member] = {}

    def version_at(_: datetime) -> ProgramVersion:
        return draft

    with replay.collector_paused():
        history = merge(_registrations(uow, end), _orders(uow, end))
        _run(tally, members, history, behaviour, version_at, now, offers)
    for member in members.values():  # what expired by the end burns
        member.account.expire(end, lambda _: 0)
        replay.flush_account(tally, member.account)
    return tally


# Each stream yields (instant, 0 for a registration or 1 for an order, its place in the stream, kind, item): a member
# registered at an order's instant registers first (as an import registers them at it), and no two items tie.


def _run(
    tally: Tally,
    members: dict[int, replay.Member],
    history: Iterable[tuple[datetime, int, int, str, Any]],
    behaviour: Behaviour,
    version_at: Callable[[datetime], ProgramVersion],
    now: datetime,
    offers: replay.Offers | None,
) -> None:
    for n, (at, _, _, kind, item) in enumerate(history, 1):
        if n % replay.CHUNK_ORDERS == 0:
            gc.collect(1)  # the collector is paused (replay.collector_paused)
        if kind == "member":
            member = members.get(item)
            if member is None:
                member = members[item] = replay.Member(replay.new_account(item, now))
            member.registered_at = at
            replay.registration(tally, member, now, version_at)
            continue
        member_id, request = item
        buyer = None
        if member_id is not None:
            buyer = members.get(member_id)
            if buyer is None:  # an order recorded before the member's registration date: it was theirs all the same
                buyer = members[member_id] = replay.Member(replay.new_account(member_id, now))
        redeems = member_id is not None and behaviour.redeems(member_id, request.order_key)
        replay.confirm(tally, replace(request, points=0), member_id, buyer, now, version_at, redeems, offers)


def _registrations(uow: UnitOfWork, end: datetime) -> Iterator[tuple[datetime, int, int, str, Any]]:
    m = t.members.c
    query = select(m.member_id, m.registered_at).where(m.registered_at < end).order_by(m.registered_at, m.member_id)
    for n, (member_id, registered_at) in enumerate(uow.conn.execute(query.execution_options(yield_per=5000))):
        yield registered_at, 0, n, "member", int(member_id)


def _orders(uow: UnitOfWork, end: datetime) -> Iterator[tuple[datetime, int, int, str, Any]]:
    o = t.orders.c
    query = (
        select(o.order_key, o.account_id, o.occurred_at, o.request)
        .where(o.status.in_(SOLD), o.occurred_at < end)
        .order_by(o.occurred_at, o.order_key)
    )
    rows = uow.conn.execute(query.execution_options(yield_per=5000))
    for n, (order_key, account_id, occurred_at, request) in enumerate(rows):
        yield occurred_at, 1, n, "order", (account_id, OrderRequest.from_json(order_key, request))


def _actual(uow: UnitOfWork, zone: tzinfo, end: datetime) -> Tally:
    """The same tally over what was written: the ledger's entries and the orders."""
    tally = Tally(zone)
    e, o = t.ledger_entries.c, t.orders.c
    entries = select(e.kind, e.points, e.occurred_at, e.rule_id).where(e.occurred_at < end)
    for kind, points, occurred_at, rule_id in uow.conn.execute(entries.execution_options(yield_per=10_000)):
        tally.entry(kind, int(points), occurred_at, rule_id)
    orders = select(o.total, o.occurred_at).where(o.status.in_(SOLD), o.occurred_at < end)
    for total, occurred_at in uow.conn.execute(orders.execution_options(yield_per=10_000)):
        tally.order(int(total), occurred_at)
    return tally


def _report(
    program: Program, start: datetime, end: datetime, behaviour: Behaviour, actual: Tally, simulated: Tally
) -> dict[str, Any]:
    first, last = start.astimezone(program.timezone).strftime("%Y-%m"), end.astimezone(program.timezone)
    months = sorted(k for k in set(actual.months) | set(simulated.months) if first <= k < _month_after(last))

    def column(tally: Tally) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        balance = sum(m.issued - m.redeemed - m.expired + m.other for k, m in tally.months.items() if k < first)
        rows, total = [], Month()
        for key in months:
            m = tally.months.get(key, Month())
            balance += m.issued - m.redeemed - m.expired + m.other
            for name in ("issued", "by_campaigns", "redeemed", "expired", "other", "revenue", "orders"):
                setattr(total, name, getattr(total, name) + getattr(m, name))
            rows.append({"month": key, **_figures(program, m, balance)})
        return rows, _figures(program, total, balance)

    actual_rows, actual_total = column(actual)
    simulated_rows, simulated_total = column(simulated)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": program.currency,
        "assumptions": {
            "redeeming_members": str(behaviour.redeeming_members),
            "redeeming_orders": str(behaviour.redeeming_orders),
        },
        "months": [
            {"month": a["month"], "actual": a, "simulated": s} for a, s in zip(actual_rows, simulated_rows, strict=True)
        ],
        "total": {"actual": actual_total, "simulated": simulated_total},
    }


def _month_after(at: datetime) -> str:
    """The first month not in a period ending at `at` (local): `at`'s month when it starts it, else the next."""
    key = at.strftime("%Y-%m")
    starts_month = (at.day, at.hour, at.minute, at.second, at.microsecond) == (1, 0, 0, 0, 0)
    if starts_month:
        return key
    year, month = at.year + (at.month == 12), at.month % 12 + 1
    return f"{year:04d}-{month:02d}"


def _figures(program: Program, m: Month, balance: int) -> dict[str, Any]:
    """A month's figures, money at the simulated program's point value (so both columns read in one unit)."""
    value = program.point_value

    def money(points: int) -> str:
        return format_money(points * value, program.exponent)

    return {
        "orders": m.orders,
        "revenue": format_money(m.revenue, program.exponent),
        "points_issued": m.issued,
        "campaign_points_issued": m.by_campaigns,
        "points_redeemed": m.redeemed,
        "points_expired": m.expired,
        "liability_points": balance,
        "liability_money": money(balance),
        "issued_cost_share": _ratio(m.issued * value, m.revenue),
        "program_cost_share": _ratio(m.redeemed * value, m.revenue),
    }


def _ratio(part: int, whole: int) -> str | None:
    return str((Decimal(part) / Decimal(whole)).quantize(_FOUR, ROUND_HALF_EVEN)) if whole else None
