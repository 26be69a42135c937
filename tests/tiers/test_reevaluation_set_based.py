"""The set-based tier re-evaluation (`tiers.reevaluate`, batches of accounts) writes what re-evaluating one member
at a time writes: the same `member_tiers` rows, `tier_history` lines (numbered on from each member's count) and
`tier.changed` events, across batch boundaries, for upgrades from no row and from a held tier, downgrades, renewals
and members who stay at the base level."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from sqlalchemy import Connection, Engine, func, select

from loyalty.ledger import repository as accounts
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from loyalty.tiers import service as tiers
from tests.tiers.test_service import TIERS
from tests.usecases import NOW, confirm, order, publish, register, return_lines, seed_program, violations

State = dict[str, list[tuple[Any, ...]]]


def tier_state(conn: Connection, after_event: int) -> State:
    e = t.events.c
    return {
        "member_tiers": [tuple(r) for r in conn.execute(select(t.member_tiers).order_by(t.member_tiers.c.account_id))],
        "history": [tuple(r) for r in conn.execute(select(t.tier_history).order_by(*t.tier_history.primary_key))],
        "events": [
            (r.account_id, r.kind, r.occurred_at, r.recorded_at, r.key, r.data)
            for r in conn.execute(
                select(t.events).where(e.event_id > after_event, e.kind == "tier.changed").order_by(e.event_id)
            )
        ],
    }


def one_by_one(engine: Engine, as_of: datetime, now: datetime) -> tuple[State, dict[str, int]]:
    """What re-evaluating one locked member at a time writes (the job before it went set-based), rolled back."""
    counts = {"members": 0, "upgraded": 0, "downgraded": 0, "held": 0}
    with UnitOfWork(engine) as uow:
        before = _last_event(uow.conn)
        program = programs.version_at(uow, as_of).program
        policy = program.tiers
        assert policy is not None
        for account_id in uow.conn.execute(select(t.accounts.c.account_id).order_by(t.accounts.c.account_id)).scalars():
            accounts.lock(uow, account_id, now)
            held = uow.conn.execute(select(t.member_tiers).where(t.member_tiers.c.account_id == account_id)).first()
            current = policy.level(held.tier_id if held is not None else None)
            value = tiers.qualifying_value(uow, account_id, policy, as_of, program)
            new = policy.reevaluate(current, value, held.kept_until if held is not None else None, as_of)
            counts["members"] += 1
            if new.id != current.id:
                up = policy.rank(new) > policy.rank(current)
                kept_until = policy.kept_until(as_of, program.timezone) if up or policy.rank(new) > 0 else None
                reason = f"re-evaluation as of {as_of.date().isoformat()}"
                tiers._move(uow, account_id, held, new, value, as_of, kept_until, reason, now, "up" if up else "down")
                counts["upgraded" if up else "downgraded"] += 1
            elif held is not None:
                values: dict[str, Any] = {"qualifying_value": value, "evaluated_at": as_of}
                renewed = policy.kept_until(as_of, program.timezone)
                if (
                    renewed is None
                    or held.kept_until is None
                    or policy.rank(policy.level_for(value)) >= policy.rank(current)
                ):
                    values["kept_until"] = renewed
                uow.conn.execute(
                    t.member_tiers.update().where(t.member_tiers.c.account_id == account_id).values(**values)
                )
        if uow.events:  # as commit() would write them; this run is rolled back
            uow.conn.execute(t.events.insert(), uow.events)
        state = tier_state(uow.conn, before)
    return state, counts


def _last_event(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(t.events.c.event_id), 0))).scalar_one())


def reevaluate_and_compare(engine: Engine, as_of: datetime, batch: int) -> dict[str, int]:
    expected, expected_counts = one_by_one(engine, as_of, as_of)
    with UnitOfWork(engine, read_only=True) as uow:
        before = _last_event(uow.conn)
    with mock.patch.object(tiers, "BATCH", batch):
        counts = tiers.reevaluate(engine, as_of, as_of)
    with UnitOfWork(engine, read_only=True) as uow:
        assert tier_state(uow.conn, before) == expected
    assert counts == expected_counts
    assert violations(engine) == []
    return counts


def test_members_across_batches_move_and_renew_as_one_at_a_time(engine: Engine) -> None:
    rolling = {**TIERS, "period": "rolling", "rolling_days": 90, "grace_days": 10}
    publish(engine, seed_program(tiers=rolling), effective_from=NOW - timedelta(days=200))
    ids = [register(engine, f"+7912345603{i}") for i in range(7)]
    at = NOW - timedelta(days=5)

    def buy(key: str, who: int, price: str, when: datetime = at) -> None:
        confirm(engine, order(key, ("sofa", price, 1), member={"member_id": ids[who]}, occurred_at=when))

    # ids[0]: no orders, stays at the base level without a row.
    buy("gold-then-returned", 1, "16000.00")  # Gold at once, then returned: down once kept-until + grace passes
    return_lines(engine, "gold-then-returned", "r-1", [("1", 1)])
    buy("gold-kept", 2, "20000.00")  # Gold, still qualifying: renewed
    buy("platinum-late", 3, "50000.00")  # Gold; more later, bought before the window the first order opened
    buy("small", 4, "3000.00")
    buy("twice-a", 5, "16000.00", at - timedelta(days=120))  # Gold long ago: down at the first run
    buy("twice-b", 6, "14000.00")

    assert reevaluate_and_compare(engine, NOW, batch=3) == {"members": 7, "upgraded": 0, "downgraded": 1, "held": 0}
    # Lower thresholds from now on: held tiers move up, a member without a row reaches Gold.
    lower = {**rolling, "levels": [dict(level) for level in TIERS["levels"]]}
    lower["levels"][1]["from"], lower["levels"][2]["from"] = "10000", "40000"
    publish(engine, seed_program(tiers=lower), effective_from=NOW + timedelta(days=1))
    later = NOW + timedelta(days=2)
    again = order("twice-c", ("sofa", "12000.00", 1), member={"member_id": ids[5]}, occurred_at=later)
    confirm(engine, again, later)  # Gold again at once: a third history line
    counts = reevaluate_and_compare(engine, later, batch=2)
    assert counts == {"members": 7, "upgraded": 2, "downgraded": 0, "held": 0}
    much_later = at + timedelta(days=101)
    counts = reevaluate_and_compare(engine, much_later, batch=4)
    assert counts["downgraded"] >= 1
    with UnitOfWork(engine, read_only=True) as uow:
        h = t.tier_history.c
        numbers = uow.conn.execute(select(h.account_id, func.max(h.history_no)).group_by(h.account_id)).all()
    assert max(n for _, n in numbers) >= 3  # a member moved by several runs numbers its lines on
    assert reevaluate_and_compare(engine, much_later, batch=5)["upgraded"] == 0


def test_lifetime_levels_get_a_period_when_a_rolling_version_takes_over_in_batches(engine: Engine) -> None:
    publish(engine, seed_program(tiers=TIERS))
    ids = [register(engine, f"+7912345604{i}") for i in range(3)]
    for i, member_id in enumerate(ids):
        confirm(engine, order(f"lt-{i}", ("sofa", "16000.00", 1), member={"member_id": member_id}))
    return_lines(engine, "lt-1", "lt-1-ret", [("1", 1)])
    assert reevaluate_and_compare(engine, NOW, batch=2)["downgraded"] == 0  # lifetime: kept for ever
    switch = NOW + timedelta(days=10)
    publish(engine, seed_program(tiers={**TIERS, "period": "rolling", "rolling_days": 90}), effective_from=switch)
    assert reevaluate_and_compare(engine, switch, batch=2)["downgraded"] == 0
    again = switch + timedelta(days=30)
    confirm(engine, order("lt-again", ("sofa", "16000.00", 1), member={"member_id": ids[2]}, occurred_at=again), again)
    # The orders of NOW left the 90-day window: down, but for the member who bought again within it.
    assert reevaluate_and_compare(engine, switch + timedelta(days=90), batch=2)["downgraded"] == 2
