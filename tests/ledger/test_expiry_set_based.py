"""The set-based expiry job (`jobs.expire`, `ledger/expiry.py`) writes exactly what the account aggregate writes:
for the same database, every entry, lot, draw, account figure and event equals what `Account.expire` and
`repository.flush` produce account by account (run in a transaction that is then rolled back), across batch
boundaries, program versions, lots spent in part or in full, lots burned already and lots expiring together."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select, text

from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.core.errors import InsufficientPoints
from loyalty.ledger import jobs
from loyalty.ledger import repository as accounts
from loyalty.ledger import service as ledger
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine
from tests.ledger.conftest import PHONES
from tests.usecases import (
    NOW,
    PROGRAM_START,
    REGISTERED_AT,
    adjust,
    balance,
    confirm,
    order,
    publish,
    register,
    run,
    seed_program,
    violations,
)

State = dict[str, list[tuple[Any, ...]]]


def ledger_state(conn: Connection) -> State:
    """Every row expiry may write, in key order."""
    return {
        "entries": [tuple(r) for r in conn.execute(select(t.ledger_entries).order_by(*t.ledger_entries.primary_key))],
        "lots": [tuple(r) for r in conn.execute(select(t.lots).order_by(*t.lots.primary_key))],
        "draws": [tuple(r) for r in conn.execute(select(t.lot_draws).order_by(*t.lot_draws.primary_key))],
        "accounts": [tuple(r) for r in conn.execute(select(t.accounts).order_by(t.accounts.c.account_id))],
    }


def expired_events(conn: Connection, after: int) -> list[tuple[Any, ...]]:
    e = t.events.c
    return [
        (r.account_id, r.kind, r.occurred_at, r.recorded_at, r.key, r.data)
        for r in conn.execute(
            select(t.events).where(e.event_id > after, e.kind == "points.expired").order_by(e.account_id)
        )
    ]


def last_event(engine: Engine) -> int:
    with UnitOfWork(engine, read_only=True) as uow:
        return int(uow.conn.execute(select(func.coalesce(func.max(t.events.c.event_id), 0))).scalar_one())


def one_by_one(engine: Engine, as_of: datetime, now: datetime) -> tuple[State, list[tuple[Any, ...]]]:
    """What the aggregate writes, account by account in ascending order, and its events; rolled back after."""
    lo = t.lots.c
    with UnitOfWork(engine) as uow:
        version_at = programs.versions_in_force(uow)
        due = select(lo.account_id).where(lo.expires_at <= as_of, lo.remaining > 0).distinct()
        for account_id in sorted(uow.conn.execute(due).scalars()):
            account = accounts.load_lots(uow, accounts.lock(uow, account_id, now))
            account.expire(as_of, version_at)
            accounts.flush(uow, account)
        state = ledger_state(uow.conn)
        events = sorted(
            (e["account_id"], e["kind"], e["occurred_at"], e["recorded_at"], e["key"], e["data"]) for e in uow.events
        )
        # Leaving without commit() rolls it all back.
    return state, events


def expire_and_compare(engine: Engine, as_of: datetime, now: datetime, batch: int) -> dict[str, int]:
    """Run the set-based job and check it wrote what the aggregate would have; then that a second run as of the
    same instant changes nothing and the audit is clean."""
    expected_state, expected_events = one_by_one(engine, as_of, now)
    before = last_event(engine)
    with mock.patch.object(jobs, "BATCH", batch):
        counts = jobs.expire(engine, as_of, now)
        with UnitOfWork(engine, read_only=True) as uow:
            state = ledger_state(uow.conn)
            events = expired_events(uow.conn, before)
        assert state == expected_state
        assert events == expected_events
        assert counts["accounts"] == len(events)
        assert counts["points"] == sum(data["points"] for *_, data in events)
        assert jobs.expire(engine, as_of, now) == {"accounts": 0, "points": 0}
        with UnitOfWork(engine, read_only=True) as uow:
            assert ledger_state(uow.conn) == state
        assert last_event(engine) == before + len(events)
    assert violations(engine) == []
    return counts


# Explicit cases, on SQLite and PostgreSQL


def test_several_accounts_across_batches_and_versions_as_the_aggregate_would(seeded: Engine) -> None:
    ids = [register(seeded, f"+7912345600{i}") for i in range(5)]  # 500 points each, expiring together
    for i, member_id in enumerate(ids):
        adjust(seeded, member_id, 100 + i)  # at NOW: a second lot, expiring a year after NOW
        adjust(seeded, member_id, 7)  # a third one at the same instant as the second
    # Recorded last, dated before the registration: the lot numbered last is the first to expire.
    run(seeded, lambda uow: ledger.adjust(uow, ids[0], 40, "tests", "late", NOW, REGISTERED_AT - timedelta(days=5)))
    ref = {"member_id": ids[1]}
    confirm(seeded, order("part", ("tv", "2000", 1), member=ref, points=300))  # the registration lot, in part
    confirm(seeded, order("all", ("tv", "2000", 1), member={"member_id": ids[2]}, points=500))  # in full
    # A version with another expiry, in force from between the two expiry instants.
    first_expiry = REGISTERED_AT + timedelta(days=365)
    publish(seeded, seed_program(expiry={"after_days": 30}), effective_from=first_expiry + timedelta(days=1))
    confirm(seeded, order("late", ("tv", "10000", 1), member=ref), NOW + timedelta(days=340))  # 30-day expiry

    counts = expire_and_compare(seeded, first_expiry, first_expiry, batch=2)
    assert counts == {"accounts": 4, "points": 500 * 3 + 200 + 40}
    much_later = NOW + timedelta(days=400)
    counts = expire_and_compare(seeded, much_later, much_later, batch=2)
    assert counts["accounts"] == 5
    with UnitOfWork(seeded, read_only=True) as uow:
        e = t.ledger_entries.c
        versions = uow.conn.execute(
            select(e.occurred_at, e.program_version).where(e.kind == "expire").distinct().order_by(e.occurred_at)
        ).all()
    assert [v for _, v in versions] == [1, 1, 2, 2]  # each names the version in force at its lot's expiry
    assert all(balance(seeded, i, much_later)["balance"] == 0 for i in ids)


def test_a_lot_spent_by_a_checkout_between_batches_is_not_burned(seeded: Engine) -> None:
    ids = [register(seeded, f"+7912345601{i}") for i in range(3)]
    at = REGISTERED_AT + timedelta(days=365)
    done: list[int] = []

    def between_batches(size: int) -> None:
        if not done:  # the last account, due when the run began, spends all its points before its batch
            confirm(seeded, order("between", ("tv", "2000", 1), member={"member_id": ids[2]}, points=500))
        done.append(size)

    with mock.patch.object(jobs, "BATCH", 2):
        assert jobs.expire(seeded, at, at, progress=between_batches) == {"accounts": 2, "points": 1000}
    assert done == [2]
    assert balance(seeded, ids[2], at)["balance"] == 0
    assert violations(seeded) == []


# SQLite serialises writers at BEGIN: there is nothing to wait for inside a batch.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_expiry_waits_for_a_checkout_holding_an_account_and_burns_what_it_left(engine: Engine) -> None:
    publish(engine)
    ids = [register(engine, f"+7912345602{i}") for i in range(3)]
    at = REGISTERED_AT + timedelta(days=365)
    spending = order("held", ("tv", "2000", 1), member={"member_id": ids[1]}, points=300)
    done: list[dict[str, int]] = []
    with UnitOfWork(engine) as uow:
        checkout.confirm(uow, parse_order(spending, NOW), NOW)  # holds the account's lock until it commits
        job = threading.Thread(target=lambda: done.append(jobs.expire(engine, at, at)))
        job.start()
        while not _waits_for_a_lock(engine):  # the job reached the held account and waits for it
            assert job.is_alive(), "the job ended without waiting for the checkout's lock"
            time.sleep(0.01)
        assert not done  # waiting for the lock, not deadlocked, not ahead of the checkout
        uow.commit()
    job.join(timeout=60)
    assert done == [{"accounts": 3, "points": 1200}]  # the 200 the checkout left, not the 500 it found
    assert violations(engine) == []


# Random histories, on SQLite: the template of tests/ledger/conftest.py, copied per example

AMOUNT = st.integers(min_value=1000, max_value=30_000).map(str)
STEP = st.one_of(
    st.tuples(st.just("order"), st.integers(0, 2), AMOUNT, st.integers(0, 20), st.integers(0, 60)),
    st.tuples(st.just("adjust"), st.integers(0, 2), st.integers(-300, 800), st.integers(0, 60)),
    st.tuples(st.just("version"), st.integers(5, 90)),
    st.tuples(st.just("advance"), st.integers(0, 40), st.booleans()),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=1, max_size=14), batch=st.integers(1, 3), ahead=st.integers(0, 120))
def test_random_histories_expire_as_the_aggregate_would(
    template: Path, steps: list[tuple[Any, ...]], batch: int, ahead: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="expiry-") as tmp:
        path = Path(tmp) / "copy.db"
        shutil.copy(template, path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            clock = play(engine, steps, batch)
            as_of = clock + timedelta(days=ahead)
            expire_and_compare(engine, as_of, as_of, batch)
        finally:
            engine.dispose()


def adjustment(member_id: int, points: int, now: datetime, at: datetime) -> Callable[[UnitOfWork], Any]:
    return lambda uow: ledger.adjust(uow, member_id, points, "tests", "random history", now, at)


def play(engine: Engine, steps: list[tuple[Any, ...]], batch: int) -> datetime:
    """Run the steps through the use cases: orders (some paying a share of what is available, some recorded late),
    adjustments both ways, program versions with their own expiry, time passing and set-based expiry runs."""
    members = [1, 2, register(engine, "+79123450000")]
    assert len(PHONES) == 2
    clock = NOW
    keys = itertools.count()
    for step in steps:
        kind = step[0]
        if kind == "order":
            _, who, amount, late_days, share = step
            available = int(balance(engine, members[who], clock)["available"])
            body = order(
                f"o{next(keys)}",
                ("goods", amount, 1),
                member={"member_id": members[who]},
                points=available * share // 100,
                occurred_at=clock - timedelta(days=late_days),
            )
            with contextlib.suppress(InsufficientPoints):
                confirm(engine, body, clock)
        elif kind == "adjust":
            _, who, points, back_days = step
            if points:
                with contextlib.suppress(InsufficientPoints):
                    run(engine, adjustment(members[who], points, clock, clock - timedelta(days=back_days)))
        elif kind == "version":
            publish(engine, seed_program(expiry={"after_days": step[1]}), effective_from=clock)
        else:
            _, days, run_job = step
            clock += timedelta(days=days)
            if run_job:
                with mock.patch.object(jobs, "BATCH", batch):
                    jobs.expire(engine, clock, clock)
    assert clock >= PROGRAM_START
    return clock


def _waits_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one())
