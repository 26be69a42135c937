"""Invariants of the accounting reports over random histories (registrations, purchases paid partly with points,
returns, adjustments, expiry), held on one database that grows example by example: the journal of all time
reconciles with the balances, and the lots at any instant add up to the ledger."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from loyalty.analytics import journal, liability
from loyalty.core.errors import LoyaltyError
from loyalty.ledger import jobs
from loyalty.storage import tables as t
from tests.analytics import accounting_history as h
from tests.usecases import confirm, order, publish, read, register, return_lines, seed_program

ORIGIN = datetime(2026, 1, 1, 12, tzinfo=UTC)
EVER = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
_numbers = itertools.count()

step = st.tuples(
    st.sampled_from(["buy", "spend", "return", "adjust", "expire"]),
    st.integers(min_value=0, max_value=2),  # which member
    st.integers(min_value=0, max_value=200),  # day after the origin
    st.integers(min_value=1, max_value=40),  # a price in hundreds of roubles, or points / 10
)


def play(engine: Engine, steps: list[tuple[str, int, int, int]]) -> None:
    """The steps in time order; a step the ledger refuses (not enough points, say) changes nothing and is skipped."""
    run = next(_numbers)
    phones = [f"+7913{run:04d}{m:03d}" for m in range(3)]
    ids = [register(engine, phone, at=ORIGIN) for phone in phones]
    bought: list[str] = []
    for kind, m, offset, size in sorted(steps, key=lambda s: s[2]):
        at = ORIGIN + timedelta(days=offset, hours=1)
        key = f"r{run}-{next(_numbers)}"
        try:
            if kind in ("buy", "spend"):
                points = 10 * size if kind == "spend" else 0
                body = order(
                    key, ("x", str(100 * size + 1000), 2), member={"phone": phones[m]}, points=points, occurred_at=at
                )
                confirm(engine, body, now=at)
                bought.append(key)
            elif kind == "return" and bought:
                return_lines(engine, bought[size % len(bought)], key, [("1", 1)], now=at)
            elif kind == "adjust":
                h.adjust(engine, ids[m], size * 5 * (1 if size % 2 else -1), at)
            elif kind == "expire":
                jobs.expire(engine, at, at)
        except LoyaltyError:
            continue


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=12), probe=st.integers(min_value=0, max_value=220))
def test_the_journal_and_the_lots_add_up_to_the_ledger(
    engine: Engine, steps: list[tuple[str, int, int, int]], probe: int
) -> None:
    if not read(engine, lambda uow: uow.conn.execute(select(func.count()).select_from(t.program_versions)).scalar()):
        publish(engine, seed_program(expiry={"after_days": 60}), effective_from=ORIGIN - timedelta(days=30))
    play(engine, steps)
    report = read(engine, lambda uow: journal.journal(uow, *EVER))
    lines = [line for day in report["days"] for line in day["lines"]]
    balances = read(
        engine, lambda uow: uow.conn.execute(select(func.coalesce(func.sum(t.accounts.c.balance), 0))).scalar_one()
    )
    assert (
        report["opening"]["points"] + sum(line["points"] for line in lines) == report["closing"]["points"] == balances
    )
    as_of = ORIGIN + timedelta(days=probe)
    owed = read(engine, lambda uow: liability.liability(uow, as_of))
    assert owed["points_in_lots"] - owed["debt_points"] == owed["liability_points"] == h.outstanding(engine, as_of)
    assert sum(row["points"] for row in owed["by_expiry_month"]) == owed["points_in_lots"]
    assert 0 <= owed["breakage"]["expected_points"] <= max(owed["liability_points"], 0)
