"""Splitting a whole number into whole parts that add up to it exactly (largest remainder)."""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total: int, weights: Sequence[int], caps: Sequence[int] | None = None) -> list[int]:
    """Split `total` into integer parts proportional to `weights`.

    Invariants: the parts add up to `total` exactly; no part is negative; no part exceeds its cap; a part with
    zero weight gets nothing. Ties in the remainders go to the earlier position, so the result is deterministic.
    Raises ValueError when the total cannot be placed (negative, or more than the caps or weights allow).
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if weights and min(weights) < 0:
        raise ValueError("weights must not be negative")
    if caps is None:
        return _by_weight(total, weights)
    limits = list(caps) if caps is not None else [total if w > 0 else 0 for w in weights]
    limits = [min(c, total) if w > 0 else 0 for c, w in zip(limits, weights, strict=True)]
    if total > sum(limits):
        raise ValueError(f"cannot place {total} within caps summing to {sum(limits)}")
    parts = [0] * len(weights)
    open_ = [i for i, w in enumerate(weights) if w > 0]
    remaining = total
    # Lines whose proportional share would pass their cap are fixed at the cap; the rest is shared again.
    while True:
        weight_sum = sum(weights[i] for i in open_)
        capped = [i for i in open_ if remaining * weights[i] > limits[i] * weight_sum]
        if not capped:
            break
        for i in capped:
            parts[i] = limits[i]
            remaining -= limits[i]
        open_ = [i for i in open_ if i not in capped]
    if not open_:
        return parts
    weight_sum = sum(weights[i] for i in open_)
    floors = {i: remaining * weights[i] // weight_sum for i in open_}
    leftover = remaining - sum(floors.values())
    by_remainder = sorted(open_, key=lambda i: (-(remaining * weights[i] % weight_sum), i))
    for i in open_:
        parts[i] = floors[i]
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return parts


def _by_weight(total: int, weights: Sequence[int]) -> list[int]:
    """`allocate` without caps: no share can pass the total, so one round of floors and remainders does."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        if total:
            raise ValueError(f"cannot place {total} on weights that are all zero")
        return [0] * len(weights)
    parts = [total * w // weight_sum for w in weights]
    leftover = total - sum(parts)
    if leftover:
        by_remainder = [(-(total * w % weight_sum), i) for i, w in enumerate(weights) if w > 0]
        by_remainder.sort()
        for _, i in by_remainder[:leftover]:
            parts[i] += 1
    return parts


def cumulative_share(total: int, done_before: int, done_now: int, whole: int) -> int:
    """The part of `total` that `done_now` more units of `whole` carry, after `done_before` units already did.

    Computed as a difference of floors of the cumulative shares, so any sequence of partial steps adds up to at
    most `total`, and to exactly `total` once all `whole` units are done.
    """
    if not 0 <= done_before <= done_before + done_now <= whole:
        raise ValueError("units out of range")
    return total * (done_before + done_now) // whole - total * done_before // whole
