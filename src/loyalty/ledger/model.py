"""Lots and the policy that decides which lots a debit consumes.

Each accrual is a lot with `available_at` and `expires_at`. A lot is spendable at instant t when
`available_at <= t < expires_at`: points are no longer spendable at the instant they expire. A debit never
takes more than a lot holds, so remainders never go negative.

A lot may carry a `max_share` (a fraction 0..1): its points can pay at most that part of an order's eligible
amount (win-back points: half an order). The quote turns it into a cap of points per share value; a spend never
takes more than that cap from the lots with that share. Lots without one are limited only by the program.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from loyalty.core.errors import InsufficientPoints


class EntryKind(StrEnum):
    """Why a balance changed. Positive kinds add points, negative ones remove them."""

    EARN = "earn"
    SPEND = "spend"
    RETURN_EARNED = "return_earned"  # a return takes back what the returned lines earned
    RETURN_SPENT = "return_spent"  # a return gives back the points spent on the returned lines
    ACTION = "action"
    EXPIRE = "expire"
    ADJUST = "adjust"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an entry comes from: the program version and rule that decided it, and the order, return, action
    event or operator that caused it. Every field is optional; the ledger stores the ones given."""

    program_version: int | None = None
    rule_id: str | None = None
    order_key: str | None = None
    return_key: str | None = None
    action_key: str | None = None  # the action event (or referral) that earned the points
    operator: str | None = None  # who made a manual adjustment, and why
    reason: str | None = None
    details: dict[str, Any] | None = None  # JSON kept with the entry (a campaign's revision, a referral's parties)


@dataclass(frozen=True)
class Violation:
    """A broken invariant the audit found: which check, what it concerns (an account, an order...) and how."""

    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


class Booking(StrEnum):
    """Which lots a debit consumes first: a named policy, data not code (as beancount's booking methods).
    The ledger spends with SPEND_ORDER."""

    SOONEST_EXPIRING = "soonest_expiring"  # the points that would burn first go first; lots that never expire last
    FIRST_ACCRUED = "first_accrued"  # FIFO: the oldest lot first, whatever its expiry

    def order(self, lots: Iterable[Lot]) -> list[Lot]:
        """`lots` in the order a debit takes from them."""
        if self is Booking.FIRST_ACCRUED:
            return sorted(lots, key=lambda lot: lot.lot_no)  # an account numbers its lots as they accrue
        return sorted(lots, key=_soonest_expiring)


@dataclass(slots=True)
class Lot:
    lot_no: int
    points: int
    remaining: int
    available_at: datetime
    expires_at: datetime | None
    max_share: Decimal | None = None  # the most of an order's eligible amount these points may pay; None: no limit

    def spendable_at(self, at: datetime) -> bool:
        return self.remaining > 0 and self.available_at <= at and (self.expires_at is None or at < self.expires_at)


@dataclass(frozen=True)
class Draw:
    """`points` taken from (or, for a give-back, returned to) lot `lot_no`."""

    lot_no: int
    points: int


def _soonest_expiring(lot: Lot) -> tuple[bool, datetime, datetime, int]:
    # Lots that never expire go last; ties go to the lot that became available first, then the older lot.
    return (lot.expires_at is None, lot.expires_at or lot.available_at, lot.available_at, lot.lot_no)


SPEND_ORDER = Booking.SOONEST_EXPIRING
"""The ledger's one spend order: spends, take-backs and debits by adjustment all draw in it."""


def spendable(lots: Iterable[Lot], at: datetime) -> int:
    return sum(lot.remaining for lot in lots if lot.spendable_at(at))


def spendable_by_share(lots: Iterable[Lot], at: datetime) -> dict[Decimal | None, int]:
    """The points spendable at `at` per `max_share` (None: the unrestricted ones); shares with none are left out."""
    split: dict[Decimal | None, int] = {}
    for lot in lots:
        if lot.spendable_at(at):
            split[lot.max_share] = split.get(lot.max_share, 0) + lot.remaining
    return split


class MovingSpendable:
    """`spendable_by_share` for an account asked at instants that never go back (a replay of history, order after
    order): running totals of the live lots, where a lot joins when it becomes available and leaves when it expires,
    so a question costs the lots that changed since the previous one instead of a scan of all. The account tells it
    of every lot it credits (`add`) and of every change to a remainder (`drawn`); asked at an earlier instant than
    before, it starts again from a scan, so its answer is always the scan's."""

    def __init__(self, lots: Iterable[Lot]) -> None:
        self._lots = {lot.lot_no: lot for lot in lots}
        self._at: datetime | None = None
        self._live: set[int] = set()
        self._totals: dict[Decimal | None, int] = {}
        self._pending: list[tuple[datetime, int]] = []
        self._expiring: list[tuple[datetime, int]] = []

    def add(self, lot: Lot) -> None:
        self._lots[lot.lot_no] = lot
        if self._at is not None:
            self._enter(lot)

    def drawn(self, lot_no: int, points: int) -> None:
        """`points` were taken from lot `lot_no` (a negative number: given back); its remainder is already changed."""
        if lot_no in self._live:
            share = self._lots[lot_no].max_share
            self._totals[share] = self._totals.get(share, 0) - points

    def split(self, at: datetime) -> dict[Decimal | None, int]:
        if self._at is None or at < self._at:
            self._start(at)
        self._at = at
        pending, expiring, lots = self._pending, self._expiring, self._lots
        while pending and pending[0][0] <= at:
            _, no = heapq.heappop(pending)
            self._join(lots[no], at)
        while expiring and expiring[0][0] <= at:
            _, no = heapq.heappop(expiring)
            if no in self._live:
                self._live.discard(no)
                lot = lots[no]
                self._totals[lot.max_share] -= lot.remaining
        return {share: points for share, points in self._totals.items() if points > 0}

    def _start(self, at: datetime) -> None:
        self._at = at
        self._live, self._totals, self._pending, self._expiring = set(), {}, [], []
        for lot in self._lots.values():
            self._enter(lot)

    def _enter(self, lot: Lot) -> None:
        assert self._at is not None
        if lot.available_at > self._at:
            heapq.heappush(self._pending, (lot.available_at, lot.lot_no))
        else:
            self._join(lot, self._at)

    def _join(self, lot: Lot, at: datetime) -> None:
        if lot.expires_at is not None and lot.expires_at <= at:
            return
        self._live.add(lot.lot_no)
        self._totals[lot.max_share] = self._totals.get(lot.max_share, 0) + lot.remaining
        if lot.expires_at is not None:
            heapq.heappush(self._expiring, (lot.expires_at, lot.lot_no))


def draw_spend(
    lots: Sequence[Lot],
    points: int,
    at: datetime,
    booking: Booking = SPEND_ORDER,
    caps: Mapping[Decimal, int] | None = None,
) -> list[Draw]:
    """Take `points` from the lots spendable at `at` in the order of `booking`; mutates the lots' remainders.

    With `caps`, the lots of each `max_share` give at most its cap in all (a share missing from `caps` gives
    nothing); a restricted lot whose share's cap is used up is skipped, and the order stays that of `booking`.
    Without `caps` every spendable lot may give all it holds. Raises InsufficientPoints, changing nothing, when
    `points` cannot be placed."""
    ordered = [lot for lot in booking.order(lots) if lot.spendable_at(at)]
    if caps is None:
        usable = sum(lot.remaining for lot in ordered)
    else:
        usable = sum(
            n if share is None else min(n, max(caps.get(share, 0), 0))
            for share, n in spendable_by_share(ordered, at).items()
        )
    if points > usable:
        where = "available" if caps is None else "can pay for this order"
        raise InsufficientPoints.at("points", f"{points} requested but only {usable} {where}")
    if caps is None:
        return _take(ordered, points)
    left = {share: max(cap, 0) for share, cap in caps.items()}
    draws: list[Draw] = []
    for lot in ordered:
        if points == 0:
            break
        room = lot.remaining if lot.max_share is None else min(lot.remaining, left.get(lot.max_share, 0))
        take = min(points, room)
        if take > 0:
            lot.remaining -= take
            points -= take
            if lot.max_share is not None:
                left[lot.max_share] -= take
            draws.append(Draw(lot.lot_no, take))
    return draws


def draw_take_back(
    lots: Sequence[Lot], points: int, first: Sequence[int] = (), booking: Booking = SPEND_ORDER
) -> tuple[list[Draw], int]:
    """Take back up to `points` from any lot with a remainder, pending or not: first the lots numbered in
    `first` (the order's own accrual), then in the order of `booking`. Returns the draws and the points not found."""
    own = [lot for lot in lots if lot.lot_no in first]
    others = booking.order(lot for lot in lots if lot.lot_no not in first)
    candidates = [lot for lot in own + others if lot.remaining > 0]
    found = min(points, sum(lot.remaining for lot in candidates))
    return _take(candidates, found), points - found


def _take(ordered: Sequence[Lot], points: int) -> list[Draw]:
    draws: list[Draw] = []
    for lot in ordered:
        if points == 0:
            break
        take = min(points, lot.remaining)
        if take > 0:
            lot.remaining -= take
            points -= take
            draws.append(Draw(lot.lot_no, take))
    return draws


def give_back(
    lots: Mapping[int, Lot],
    spent: Iterable[Draw],
    already_returned: Mapping[int, int],
    points: int,
    booking: Booking = SPEND_ORDER,
) -> list[Draw]:
    """Put `points` back into the lots a spend drew from, the last-drawn (longest-lived) lot first, never more
    into a lot than the spend took from it net of earlier give-backs. The spend drew in the order of `booking`
    (the stored draws do not keep their order): the give-back goes in its reverse. Mutates the lots' remainders."""
    by_lot = {draw.lot_no: draw for draw in spent}  # a spend draws from a lot once
    draws: list[Draw] = []
    for lot in reversed(booking.order(lots[no] for no in by_lot)):
        if points == 0:
            break
        draw = by_lot[lot.lot_no]
        room = draw.points - already_returned.get(draw.lot_no, 0)
        put = min(points, room)
        if put > 0:
            lot.remaining += put
            points -= put
            draws.append(Draw(draw.lot_no, put))
    if points:
        raise ValueError("cannot give back more points than the spend took")
    return draws


def expiring(lots: Iterable[Lot], at: datetime) -> list[Lot]:
    """Lots whose points have burned by `at` and still hold a remainder, soonest expiry first, then by number: the
    order their expire entries are numbered in (the set-based job, `loyalty.ledger.expiry`, numbers them alike)."""
    due = [lot for lot in lots if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= at]
    return sorted(due, key=lambda lot: (lot.expires_at, lot.lot_no))
