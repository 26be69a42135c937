"""Largest-remainder allocation (points and discounts spread over lines) and cumulative shares (partial returns)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.core.allocation import allocate, cumulative_share

# --- allocate: examples -------------------------------------------------------------------------------------------


def test_parts_are_proportional_and_add_up_exactly() -> None:
    assert allocate(500, [6000, 4000]) == [300, 200]
    assert sum(allocate(500, [3333, 3333, 3334])) == 500


def test_ties_in_the_remainder_go_to_the_earlier_line() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]


def test_a_line_with_zero_weight_gets_nothing() -> None:
    assert allocate(10, [1, 0, 1]) == [5, 0, 5]
    assert allocate(7, [0, 5, 0]) == [0, 7, 0]


def test_caps_are_respected_and_the_rest_is_shared_again() -> None:
    # Proportionally the first line would take 5; its cap is 2, so the second takes the other 8.
    assert allocate(10, [1, 1], [2, 100]) == [2, 8]
    # A cascade: capping the first line pushes the second one over its cap too.
    assert allocate(40, [10, 5, 1], [10, 13, 100]) == [10, 13, 17]


def test_a_zero_total_gives_zero_parts() -> None:
    assert allocate(0, [3, 0, 5]) == [0, 0, 0]
    assert allocate(0, []) == []


@pytest.mark.parametrize(
    ("total", "weights", "caps"),
    [
        (-1, [1, 1], None),  # negative total
        (5, [1, -1], None),  # negative weight
        (5, [1, 1], [1, 1]),  # more than the caps allow
        (5, [0, 0], None),  # nowhere to put it
        (5, [0, 3], [100, 4]),  # the cap of a zero-weight line does not count
    ],
)
def test_a_total_that_cannot_be_placed_is_refused(total: int, weights: list[int], caps: list[int] | None) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by cause
        allocate(total, weights, caps)


def test_weights_and_caps_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        allocate(5, [1, 1], [5])


# --- allocate: properties -----------------------------------------------------------------------------------------

weights_st = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12)


@given(weights=weights_st, total=st.integers(min_value=0, max_value=10**9))
def test_uncapped_parts_sum_to_total_and_each_is_its_quota_rounded(weights: list[int], total: int) -> None:
    if sum(weights) == 0:
        return
    parts = allocate(total, weights)
    assert sum(parts) == total
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        quota = Fraction(total * weight, weight_sum)
        # Largest remainder: every part is its exact quota rounded down or up, never further off.
        assert quota - 1 < part < quota + 1
        if weight == 0:
            assert part == 0


@st.composite
def capped_problem(draw: st.DrawFn) -> tuple[int, list[int], list[int]]:
    weights = draw(weights_st)
    caps = draw(st.lists(st.integers(min_value=0, max_value=10**6), min_size=len(weights), max_size=len(weights)))
    room = sum(c for c, w in zip(caps, weights, strict=True) if w > 0)
    total = draw(st.integers(min_value=0, max_value=room))
    return total, weights, caps


@given(capped_problem())
def test_capped_parts_sum_to_total_never_exceed_caps_and_zero_weight_gets_zero(
    problem: tuple[int, list[int], list[int]],
) -> None:
    total, weights, caps = problem
    parts = allocate(total, weights, caps)
    assert sum(parts) == total
    for part, weight, cap in zip(parts, weights, caps, strict=True):
        assert 0 <= part <= cap
        if weight == 0:
            assert part == 0


@given(capped_problem(), st.integers(min_value=1, max_value=10**6))
def test_more_than_the_caps_allow_is_always_refused(problem: tuple[int, list[int], list[int]], extra: int) -> None:
    _, weights, caps = problem
    room = sum(c for c, w in zip(caps, weights, strict=True) if w > 0)
    with pytest.raises(ValueError, match="cannot place"):
        allocate(room + extra, weights, caps)


@given(capped_problem())
def test_allocation_is_deterministic(problem: tuple[int, list[int], list[int]]) -> None:
    total, weights, caps = problem
    assert allocate(total, weights, caps) == allocate(total, list(weights), list(caps))


# --- cumulative_share: partial returns ---------------------------------------------------------------------------


def test_three_single_unit_returns_move_exactly_the_total() -> None:
    # A line of 3 units earned 100 points: returning them one by one takes back 33, 33, 34.
    steps = [cumulative_share(100, 0, 1, 3), cumulative_share(100, 1, 1, 3), cumulative_share(100, 2, 1, 3)]
    assert steps == [33, 33, 34]
    assert sum(steps) == 100


def test_a_full_return_in_one_step_moves_the_total() -> None:
    assert cumulative_share(501, 0, 7, 7) == 501


def test_a_return_of_nothing_moves_nothing() -> None:
    assert cumulative_share(501, 3, 0, 7) == 0


@pytest.mark.parametrize(("before", "now", "whole"), [(0, 4, 3), (2, 2, 3), (-1, 1, 3), (1, -1, 3)])
def test_returning_more_units_than_the_line_has_is_refused(before: int, now: int, whole: int) -> None:
    with pytest.raises(ValueError, match="units out of range"):
        cumulative_share(100, before, now, whole)


@st.composite
def partial_returns(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    total = draw(st.integers(min_value=0, max_value=10**9))
    whole = draw(st.integers(min_value=1, max_value=50))
    steps: list[int] = []
    left = whole
    while left and draw(st.booleans()):
        step = draw(st.integers(min_value=0, max_value=left))
        steps.append(step)
        left -= step
    return total, whole, steps


@given(partial_returns())
def test_any_sequence_of_partial_returns_never_moves_more_than_the_total(case: tuple[int, int, list[int]]) -> None:
    total, whole, steps = case
    done = 0
    moved = 0
    for step in steps:
        share = cumulative_share(total, done, step, whole)
        assert share >= 0
        # Each step is its proportional part, rounded down or up.
        assert Fraction(total * step, whole) - 1 < share < Fraction(total * step, whole) + 1
        moved += share
        done += step
        assert moved <= total
    # Returning whatever is left moves exactly the rest.
    moved += cumulative_share(total, done, whole - done, whole)
    assert moved == total
