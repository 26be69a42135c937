"""Lots and the policy that decides which lots a debit consumes.

Each accrual is a lot with `available_at` and `expires_at`. A lot is spendable at instant t when
`available_at <= t < expires_at`: points are no longer spendable at the instant they expire. A debit never
takes more than a lot holds, so remainders never go negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from loyalty.domain.errors import InsufficientPoints


class EntryKind(StrEnum):
    """Why a balance changed. Positive kinds add points, negative ones remove them."""

    EARN = "earn"
    SPEND = "spend"
    RETURN_EARNED = "return_earned"  # a return takes back what the returned lines earned
    RETURN_SPENT = "return_spent"  # a return gives back the points spent on the returned lines
    ACTION = "action"
    EXPIRE = "expire"
    ADJUST = "adjust"


class Booking(StrEnum):
    """Which lots a debit consumes first. Data, not code, so a program could choose another one."""

    SOONEST_EXPIRING = "soonest_expiring"


@dataclass
class Lot:
    lot_no: int
    points: int
    remaining: int
    available_at: datetime
    expires_at: datetime | None

    def spendable_at(self, at: datetime) -> bool:
        return self.remaining > 0 and self.available_at <= at and (self.expires_at is None or at < self.expires_at)


@dataclass(frozen=True)
class Draw:
    """`points` taken from (or, for a give-back, returned to) lot `lot_no`."""

    lot_no: int
    points: int


def _booking_key(lot: Lot) -> tuple[bool, datetime, datetime, int]:
    # Lots that never expire go last; ties go to the lot that became available first, then the older lot.
    return (lot.expires_at is None, lot.expires_at or lot.available_at, lot.available_at, lot.lot_no)


def spendable(lots: Iterable[Lot], at: datetime) -> int:
    return sum(lot.remaining for lot in lots if lot.spendable_at(at))


def draw_spend(
    lots: Sequence[Lot], points: int, at: datetime, booking: Booking = Booking.SOONEST_EXPIRING
) -> list[Draw]:
    """Take `points` from the lots spendable at `at`, soonest-expiring first; mutates the lots' remainders."""
    if points > spendable(lots, at):
        raise InsufficientPoints.at("points", f"{points} requested but only {spendable(lots, at)} available")
    return _take([lot for lot in sorted(lots, key=_booking_key) if lot.spendable_at(at)], points)


def draw_take_back(lots: Sequence[Lot], points: int, first: Sequence[int] = ()) -> tuple[list[Draw], int]:
    """Take back up to `points` from any lot with a remainder, pending or not: first the lots numbered in
    `first` (the order's own accrual), then soonest-expiring. Returns the draws and the points not found."""
    own = [lot for lot in lots if lot.lot_no in first]
    others = sorted((lot for lot in lots if lot.lot_no not in first), key=_booking_key)
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


def give_back(lots: dict[int, Lot], spent: Sequence[Draw], already_returned: dict[int, int], points: int) -> list[Draw]:
    """Put `points` back into the lots a spend drew from, the last-drawn (longest-lived) lot first, never more
    into a lot than the spend took from it net of earlier give-backs. Mutates the lots' remainders."""
    draws: list[Draw] = []
    for draw in reversed(spent):
        if points == 0:
            break
        room = draw.points - already_returned.get(draw.lot_no, 0)
        put = min(points, room)
        if put > 0:
            lots[draw.lot_no].remaining += put
            points -= put
            draws.append(Draw(draw.lot_no, put))
    if points:
        raise ValueError("cannot give back more points than the spend took")
    return draws


def expiring(lots: Iterable[Lot], at: datetime) -> list[Lot]:
    """Lots whose points have burned by `at` and still hold a remainder."""
    return [lot for lot in lots if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= at]
