"""The holdout's assignment: deterministic, nested in the share, and close to the share over many members."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty.experiments.model import default_seed, in_holdout

shares = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.5"), places=4)


@given(st.integers(0, 2**53 - 1), st.integers(1, 2**62), shares, shares)
def test_a_member_held_out_at_a_share_is_held_out_at_any_larger_one(
    seed: int, member: int, a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    assert not in_holdout(seed, low, member) or in_holdout(seed, high, member)
    assert in_holdout(seed, low, member) == in_holdout(seed, low, member)  # the same answer every time


@given(st.integers(0, 2**53 - 1), shares)
def test_the_share_held_out_is_close_to_the_share(seed: int, share: Decimal) -> None:
    n = 4000
    held = sum(in_holdout(seed, share, m) for m in range(1, n + 1))
    p = float(share)
    assert abs(held / n - p) <= 5 * (p * (1 - p) / n) ** 0.5 + 1 / n  # five standard deviations


def test_experiments_hold_out_different_members() -> None:
    a, b = default_seed("holdout-a"), default_seed("holdout-b")
    assert a != b
    members = range(1, 2001)
    both = sum(in_holdout(a, Decimal("0.5"), m) and in_holdout(b, Decimal("0.5"), m) for m in members)
    assert 400 <= both <= 600  # independent draws: about a quarter of the members are in both
