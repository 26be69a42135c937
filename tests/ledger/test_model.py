"""Lots: which points are spendable when, which lots a spend consumes, and what returns take and give back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.core.errors import InsufficientPoints
from loyalty.ledger.model import (
    SPEND_ORDER,
    Booking,
    Draw,
    Lot,
    draw_spend,
    draw_take_back,
    expiring,
    give_back,
    spendable,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def lot(
    lot_no: int, points: int, *, available: float = 0, expires: float | None = None, remaining: int | None = None
) -> Lot:
    return Lot(
        lot_no,
        points,
        points if remaining is None else remaining,
        day(available),
        None if expires is None else day(expires),
    )


# --- when points can be spent ------------------------------------------------------------------------------------


def test_points_are_spendable_from_the_instant_they_unlock_until_just_before_they_expire() -> None:
    lot_ = lot(1, 500, available=14, expires=379)
    assert not lot_.spendable_at(day(14) - timedelta(microseconds=1))
    assert lot_.spendable_at(day(14))
    assert lot_.spendable_at(day(379) - timedelta(microseconds=1))
    # At the instant they expire they are gone, and the expiry job sees them as burned.
    assert not lot_.spendable_at(day(379))
    assert expiring([lot_], day(379)) == [lot_]
    assert expiring([lot_], day(379) - timedelta(microseconds=1)) == []


def test_points_that_never_expire_stay_spendable() -> None:
    lot_ = lot(1, 500)
    assert lot_.spendable_at(day(100_000))
    assert expiring([lot_], day(100_000)) == []


def test_an_empty_lot_is_not_spendable_and_does_not_expire() -> None:
    lot_ = lot(1, 500, expires=10, remaining=0)
    assert not lot_.spendable_at(day(5))
    assert expiring([lot_], day(20)) == []


def test_the_spendable_balance_leaves_out_pending_and_expired_points() -> None:
    lots = [lot(1, 100), lot(2, 200, available=14), lot(3, 300, expires=5), lot(4, 400, remaining=150)]
    assert spendable(lots, day(1)) == 100 + 300 + 150
    assert spendable(lots, day(6)) == 100 + 150
    assert spendable(lots, day(14)) == 100 + 200 + 150


# --- spending ----------------------------------------------------------------------------------------------------


def test_a_spend_takes_the_soonest_expiring_points_first_and_never_expiring_last() -> None:
    lots = [lot(1, 100), lot(2, 100, expires=300), lot(3, 100, expires=30), lot(4, 100, expires=200)]
    draws = draw_spend(lots, 250, day(1))
    assert draws == [Draw(3, 100), Draw(4, 100), Draw(2, 50)]
    assert [x.remaining for x in lots] == [100, 50, 0, 0]


def test_a_spend_skips_pending_and_expired_lots() -> None:
    lots = [lot(1, 100, expires=3), lot(2, 100, available=10, expires=20), lot(3, 100, expires=50)]
    assert draw_spend(lots, 60, day(5)) == [Draw(3, 60)]
    assert [x.remaining for x in lots] == [100, 100, 40]


def test_ties_in_expiry_go_to_the_lot_available_first_then_the_older_lot() -> None:
    lots = [
        lot(3, 10, available=2, expires=100),
        lot(2, 10, available=1, expires=100),
        lot(1, 10, available=2, expires=100),
    ]
    assert draw_spend(lots, 25, day(3)) == [Draw(2, 10), Draw(1, 10), Draw(3, 5)]


def test_spending_more_than_is_spendable_is_refused_and_changes_nothing() -> None:
    lots = [lot(1, 100), lot(2, 500, available=14)]
    with pytest.raises(InsufficientPoints) as caught:
        draw_spend(lots, 101, day(1))
    assert caught.value.problems[0].path == "points"
    assert "only 100 available" in caught.value.problems[0].reason
    assert [x.remaining for x in lots] == [100, 500]


def test_spending_nothing_draws_nothing() -> None:
    lots = [lot(1, 100)]
    assert draw_spend(lots, 0, day(1)) == []
    assert lots[0].remaining == 100


# --- returns: taking back earned points, giving back spent points ------------------------------------------------


def test_a_return_takes_back_the_orders_own_lot_first_even_while_pending() -> None:
    lots = [lot(1, 100, expires=30), lot(2, 50, available=14, expires=400)]
    draws, missing = draw_take_back(lots, 50, first=[2])
    assert draws == [Draw(2, 50)]
    assert missing == 0
    assert [x.remaining for x in lots] == [100, 0]


def test_when_the_own_lot_was_spent_the_rest_comes_from_the_soonest_expiring() -> None:
    lots = [lot(1, 100, expires=300), lot(2, 100, expires=30), lot(3, 50, remaining=20)]
    draws, missing = draw_take_back(lots, 50, first=[3])
    assert draws == [Draw(3, 20), Draw(2, 30)]
    assert missing == 0


def test_what_cannot_be_taken_back_is_reported_missing_and_nothing_goes_negative() -> None:
    lots = [lot(1, 100, remaining=30), lot(2, 100, remaining=0)]
    draws, missing = draw_take_back(lots, 50)
    assert draws == [Draw(1, 30)]
    assert missing == 20
    assert [x.remaining for x in lots] == [0, 0]


def test_giving_back_refills_the_lots_the_spend_drew_from_last_drawn_first() -> None:
    lots = {1: lot(1, 100, expires=30), 2: lot(2, 100, expires=300)}
    spent = draw_spend(list(lots.values()), 150, day(1))
    assert spent == [Draw(1, 100), Draw(2, 50)]
    # A first partial return gives back 60: the 50 from the longest-lived lot, then 10 from the other.
    first = give_back(lots, spent, {}, 60)
    assert first == [Draw(2, 50), Draw(1, 10)]
    assert [x.remaining for x in lots.values()] == [10, 100]
    # A second one can give back only what is left of the spend, 90, and not a point more.
    second = give_back(lots, spent, {2: 50, 1: 10}, 90)
    assert second == [Draw(1, 90)]
    assert [x.remaining for x in lots.values()] == [100, 100]
    with pytest.raises(ValueError, match="more points than the spend took"):
        give_back(lots, spent, {2: 50, 1: 100}, 1)


# --- properties --------------------------------------------------------------------------------------------------


@st.composite
def lot_lists(draw: st.DrawFn) -> list[Lot]:
    lots = []
    for no in range(1, draw(st.integers(min_value=0, max_value=10)) + 1):
        points = draw(st.integers(min_value=1, max_value=1000))
        remaining = draw(st.integers(min_value=0, max_value=points))
        available = draw(st.integers(min_value=0, max_value=40))
        expires = draw(st.none() | st.integers(min_value=available + 1, max_value=80))
        lots.append(Lot(no, points, remaining, day(available), None if expires is None else day(expires)))
    return lots


def soonest_expiring(x: Lot) -> tuple[object, ...]:
    return (x.expires_at is None, x.expires_at or x.available_at, x.available_at, x.lot_no)


def first_accrued(x: Lot) -> tuple[object, ...]:
    return (x.lot_no,)


BOOKING_KEYS = {Booking.SOONEST_EXPIRING: soonest_expiring, Booking.FIRST_ACCRUED: first_accrued}


def test_the_booking_policy_decides_which_lots_a_spend_and_a_take_back_draw_from() -> None:
    def lots() -> list[Lot]:  # the older lot lives longer: the two policies disagree
        return [lot(1, 100, expires=300), lot(2, 100, available=10, expires=200), lot(3, 100)]

    assert draw_spend(lots(), 150, day(20), Booking.SOONEST_EXPIRING) == [Draw(2, 100), Draw(1, 50)]
    assert draw_spend(lots(), 150, day(20), Booking.FIRST_ACCRUED) == [Draw(1, 100), Draw(2, 50)]
    assert draw_take_back(lots(), 150, [3], Booking.SOONEST_EXPIRING) == ([Draw(3, 100), Draw(2, 50)], 0)
    assert draw_take_back(lots(), 150, [3], Booking.FIRST_ACCRUED) == ([Draw(3, 100), Draw(1, 50)], 0)
    # The ledger's one spend order: soonest-expiring first (DESIGN.md), by default in every draw.
    assert SPEND_ORDER is Booking.SOONEST_EXPIRING
    assert draw_spend(lots(), 150, day(20)) == draw_spend(lots(), 150, day(20), SPEND_ORDER)
    assert draw_take_back(lots(), 150) == draw_take_back(lots(), 150, (), SPEND_ORDER)


@given(lot_lists(), st.integers(min_value=0, max_value=90), st.sampled_from(Booking), st.data())
def test_a_spend_takes_exactly_the_points_in_the_order_of_its_booking_policy(
    lots: list[Lot], at_day: int, booking: Booking, data: st.DataObject
) -> None:
    at = day(at_day)
    before = {x.lot_no: x.remaining for x in lots}
    could = spendable(lots, at)
    points = data.draw(st.integers(min_value=0, max_value=could))
    usable = {x.lot_no for x in lots if x.spendable_at(at)}

    draws = draw_spend(lots, points, at, booking)

    assert sum(d.points for d in draws) == points
    assert spendable(lots, at) == could - points
    for x in lots:
        assert 0 <= x.remaining <= x.points
        if x.lot_no not in usable:
            assert x.remaining == before[x.lot_no]  # pending or expired lots are never touched
    # A lot is drawn from only when every usable lot the policy puts before it is empty.
    key = BOOKING_KEYS[booking]
    drawn = {d.lot_no for d in draws}
    for x in lots:
        if x.lot_no in drawn:
            for y in lots:
                if y.lot_no in usable and key(y) < key(x):
                    assert y.remaining == 0


@given(lot_lists(), st.integers(min_value=0, max_value=90), st.integers(min_value=1, max_value=10**6))
def test_a_spend_beyond_the_spendable_balance_is_always_refused(lots: list[Lot], at_day: int, extra: int) -> None:
    at = day(at_day)
    before = copy.deepcopy(lots)
    with pytest.raises(InsufficientPoints):
        draw_spend(lots, spendable(lots, at) + extra, at)
    assert lots == before


@settings(max_examples=300)
@given(lot_lists(), st.data())
def test_spends_take_backs_and_give_backs_keep_every_lot_within_its_points(
    lots: list[Lot], data: st.DataObject
) -> None:
    """A random history of an account: spends, returns of spent points, take-backs of earned points."""
    by_no = {x.lot_no: x for x in lots}
    spends: list[tuple[list[Draw], dict[int, int]]] = []  # each spend and what was already given back per lot
    total = sum(x.remaining for x in lots)
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        at = day(data.draw(st.integers(min_value=0, max_value=90)))
        action = data.draw(st.sampled_from(["spend", "take_back", "give_back"]))
        if action == "spend":
            points = data.draw(st.integers(min_value=0, max_value=spendable(lots, at)))
            spends.append((draw_spend(lots, points, at), {}))
            total -= points
        elif action == "take_back":
            points = data.draw(st.integers(min_value=0, max_value=2000))
            first = data.draw(st.lists(st.sampled_from(sorted(by_no)), max_size=2)) if by_no else []
            draws, missing = draw_take_back(lots, points, first)
            taken = sum(d.points for d in draws)
            assert taken + missing == points
            assert missing == 0 or all(x.remaining == 0 for x in lots)
            total -= taken
        elif spends:
            spent, returned = data.draw(st.sampled_from(spends))
            room = sum(d.points for d in spent) - sum(returned.values())
            points = data.draw(st.integers(min_value=0, max_value=room))
            for d in give_back(by_no, spent, returned, points):
                returned[d.lot_no] = returned.get(d.lot_no, 0) + d.points
            total += points
            # Never more back into a lot than the spend took from it.
            taken_from = {d.lot_no: d.points for d in spent}
            assert all(returned[n] <= taken_from[n] for n in returned)
        for x in lots:
            assert 0 <= x.remaining <= x.points
        assert sum(x.remaining for x in lots) == total
