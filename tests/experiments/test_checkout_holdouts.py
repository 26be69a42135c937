"""What an experiment costs the checkout: nothing read when none is in force (or this member is not held out), one
indexed read of the segment's membership for a holdout drawn from a segment; and what a control group's member
gets: no points, no spend, an explanation, a clean audit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event

from loyalty.experiments import service as experiments
from loyalty.experiments.model import default_seed, in_holdout
from loyalty.segments import service as segments
from tests.usecases import NOW, calculate, confirm, order, register, run, violations


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def reads_of(sent: list[str], table: str) -> int:
    return sum(f"FROM {table}" in s for s in sent)


def create(engine: Engine, **fields: Any) -> None:
    data = {
        "name": "test",
        "kind": "holdout",
        "starts_at": (NOW - timedelta(days=1)).isoformat(),
        "ends_at": (NOW + timedelta(days=30)).isoformat(),
        **fields,
    }
    run(engine, lambda uow: experiments.create(uow, data, NOW, lambda: NOW.tzinfo))  # type: ignore[arg-type, return-value]


def members(engine: Engine, count: int) -> list[int]:
    return [register(engine, f"+7912000{i:04d}") for i in range(count)]


def test_nothing_is_read_when_no_experiment_is_in_force(seeded: Engine) -> None:
    people = members(seeded, 3)
    with statements(seeded) as sent:
        confirm(seeded, order("o-0", ("tv", "2000", 1), member={"member_id": people[0]}))
    assert reads_of(sent, "experiments") == reads_of(sent, "segment_members") == 0
    # An experiment over, or not yet begun, is loaded once (its stamp changed) and then costs nothing.
    create(seeded, experiment_id="past", share="0.5", ends_at=(NOW - timedelta(hours=1)).isoformat())
    confirm(seeded, order("o-1", ("tv", "2000", 1), member={"member_id": people[1]}))
    with statements(seeded) as sent:
        result = confirm(seeded, order("o-2", ("tv", "2000", 1), member={"member_id": people[2]}))
    assert result["points_to_earn"] == 100
    assert reads_of(sent, "experiments") == reads_of(sent, "segment_members") == 0


def test_a_holdout_of_a_segment_reads_the_membership_once_per_order(seeded: Engine) -> None:
    people = members(seeded, 10)
    chosen = people[:6]
    run(
        seeded,
        lambda uow: segments.create(
            uow,
            {"segment_id": "vip", "name": "VIP", "kind": "static", "members": [{"member_id": m} for m in chosen]},
            NOW,
        ),
    )
    create(seeded, experiment_id="vip-holdout", share="0.5", segment="vip")
    seed = default_seed("vip-holdout")
    held = [m for m in chosen if in_holdout(seed, Decimal("0.5"), m)]
    assert held and len(held) < len(chosen)
    confirm(seeded, order("warm", ("tv", "2000", 1), member={"member_id": people[-1]}))  # loads the experiments
    for i, member in enumerate(people):
        with statements(seeded) as sent:
            result = confirm(seeded, order(f"o-{i}", ("tv", "2000", 1), member={"member_id": member}))
        assert result["points_to_earn"] == (0 if member in held else 100), member
        assert reads_of(sent, "experiments") == 0
        # The segment is read only for a member the hash holds out: one indexed read, or none.
        assert reads_of(sent, "segment_members") == (1 if in_holdout(seed, Decimal("0.5"), member) else 0)
    assert violations(seeded) == []


def test_a_held_out_member_keeps_their_points_for_later(seeded: Engine) -> None:
    people = members(seeded, 8)
    create(seeded, experiment_id="h", share="0.5", seed=3)
    held = next(m for m in people if in_holdout(3, Decimal("0.5"), m))
    quoted = calculate(seeded, order("q", ("tv", "2000", 1), member={"member_id": held}, points=300))
    assert (quoted["points_applied"], quoted["max_points"], quoted["points_to_earn"]) == (0, 0, 0)
    assert quoted["balance_available"] == 500
    after = NOW + timedelta(days=31)  # the experiment is over: the same member earns and spends again
    later = confirm(
        seeded, order("l", ("tv", "2000", 1), member={"member_id": held}, points=300, occurred_at=after), after
    )
    assert later["points_applied"] == 300
    assert violations(seeded) == []
