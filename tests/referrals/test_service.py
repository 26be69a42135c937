"""Referrals on both databases: the new member's bonus at registration, the referrer's reward by the job once the
new member's first order is past its return window, the refusals that change nothing, caps, and a job that never
rewards twice, however often and however concurrently it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import OperationalError

from loyalty.core.errors import Conflict, InvalidInput, LoyaltyError
from loyalty.members import service as members
from loyalty.referrals import service as referrals
from loyalty.storage import tables as t
from loyalty.storage.database import make_engine
from tests.usecases import (
    NOW,
    cancel,
    confirm,
    entries,
    order,
    publish,
    read,
    reserve,
    return_lines,
    run,
    seed_program,
    snapshot,
    violations,
)

SCHEME = {"new_member_points": 300, "referrer_points": 700, "return_window_days": 14}
START = NOW - timedelta(days=40)  # when the referrer registers; the new members register a day later


def publish_scheme(engine: Engine, **changes: Any) -> None:
    publish(engine, seed_program(referrals={**SCHEME, **changes}))


def join(engine: Engine, phone: str, code: str | None = None, at: datetime = START) -> int:
    data = {"phone": phone, **({"referral_code": code} if code else {})}
    member = members.parse_member(data)
    return run(engine, lambda uow: members.register(uow, member, at))


def code_of(engine: Engine, member_id: int) -> str:
    code = read(engine, lambda uow: members.profile(uow, member_id))["referral_code"]
    assert isinstance(code, str)
    return code


def attach(engine: Engine, member_id: int, code: str, now: datetime) -> dict[str, Any]:
    return run(engine, lambda uow: referrals.attach(uow, member_id, code, now))


def reward(engine: Engine, now: datetime) -> int:
    return run(engine, lambda uow: referrals.reward_referrers(uow, now))


def listing(engine: Engine, member_id: int) -> dict[str, Any]:
    return read(engine, lambda uow: referrals.referred_by(uow, member_id))


def buy(engine: Engine, order_id: str, member_id: int, at: datetime, *lines: tuple[str, str, int]) -> None:
    body = order(order_id, *(lines or [("coat", "10000", 1)]), member={"member_id": member_id}, occurred_at=at)
    confirm(engine, body, at)


def rules(engine: Engine, member_id: int) -> list[tuple[str, int, str | None]]:
    """The member's ledger as (kind, points, rule), oldest first."""
    return [(e["kind"], e["points"], e["rule"]) for e in reversed(entries(engine, member_id))]


def everything(engine: Engine) -> dict[str, Any]:
    """The services' snapshot plus the referrals and the members' codes: equal means nothing was written."""

    def take(uow: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in uow.conn.execute(select(t.referrals).order_by(t.referrals.c.account_id))] + [
            tuple(r) for r in uow.conn.execute(select(t.members.c.member_id, t.members.c.referral_code))
        ]

    return {**snapshot(engine), "referrals": read(engine, take)}


@pytest.fixture
def scheme(engine: Engine) -> Engine:
    publish_scheme(engine)
    return engine


@pytest.fixture
def referrer(scheme: Engine) -> int:
    return join(scheme, "+79120000001")


# Both sides, at the right times


def test_the_new_member_gets_the_bonus_at_once_and_the_referrer_after_the_window(scheme: Engine, referrer: int) -> None:
    referee = join(scheme, "+79120000002", code_of(scheme, referrer).lower(), START + timedelta(days=1))
    assert rules(scheme, referee) == [("action", 500, "action.registration"), ("action", 300, "referral:new_member")]
    new_member_entry = entries(scheme, referee)[0]
    assert new_member_entry["program_version"] == 1
    bought = START + timedelta(days=2)
    buy(scheme, "R-1", referee, bought)
    due = bought + timedelta(days=14)
    assert reward(scheme, due - timedelta(seconds=1)) == 0
    assert rules(scheme, referrer) == [("action", 500, "action.registration")]
    assert listing(scheme, referrer)["referrals"][0]["status"] == "pending"
    assert reward(scheme, due) == 1
    assert rules(scheme, referrer) == [("action", 500, "action.registration"), ("action", 700, "referral:referrer")]
    details = read(
        scheme,
        lambda uow: uow.conn.execute(
            select(t.ledger_entries.c.details, t.ledger_entries.c.program_version).where(
                t.ledger_entries.c.account_id == referrer, t.ledger_entries.c.rule_id == "referral:referrer"
            )
        ).one(),
    )
    assert details == ({"referee_id": referee, "order_id": "R-1"}, 1)
    assert listing(scheme, referrer) == {
        "member_id": referrer,
        "counts": {"pending": 0, "rewarded": 1, "void": 0},
        "points": 700,
        "referrals": [
            {
                "member_id": referee,
                "status": "rewarded",
                "created_at": (START + timedelta(days=1)).isoformat(),
                "settled_at": due.isoformat(),
                "order_id": "R-1",
                "points": 700,
                "reason": None,
            }
        ],
    }
    # Rerunning, then or later, grants nothing more.
    before = everything(scheme)
    assert reward(scheme, due) == 0
    assert reward(scheme, due + timedelta(days=90)) == 0
    assert everything(scheme) == before
    assert violations(scheme) == []


@pytest.mark.parametrize("undo", ["return", "cancel"])
def test_a_first_order_undone_within_the_window_waits_for_a_later_order(
    scheme: Engine, referrer: int, undo: str
) -> None:
    referee = join(scheme, "+79120000002", code_of(scheme, referrer), START + timedelta(days=1))
    first = START + timedelta(days=2)
    buy(scheme, "R-1", referee, first, ("coat", "6000", 1), ("hat", "4000", 2))
    if undo == "return":
        return_lines(scheme, "R-1", "RET-1", [("1", 1), ("2", 2)], first + timedelta(days=3))
    else:
        cancel(scheme, "R-1", first + timedelta(days=3))
    second = first + timedelta(days=5)
    buy(scheme, "R-2", referee, second)
    assert reward(scheme, first + timedelta(days=14)) == 0
    assert listing(scheme, referrer)["counts"]["pending"] == 1
    assert reward(scheme, second + timedelta(days=14)) == 1
    assert listing(scheme, referrer)["referrals"][0]["order_id"] == "R-2"
    assert violations(scheme) == []


def test_a_partly_returned_first_order_still_qualifies(scheme: Engine, referrer: int) -> None:
    referee = join(scheme, "+79120000002", code_of(scheme, referrer), START + timedelta(days=1))
    first = START + timedelta(days=2)
    buy(scheme, "R-1", referee, first, ("coat", "6000", 1), ("hat", "4000", 2))
    return_lines(scheme, "R-1", "RET-1", [("2", 2)], first + timedelta(days=1))
    assert reward(scheme, first + timedelta(days=14)) == 1
    assert listing(scheme, referrer)["referrals"][0]["order_id"] == "R-1"


def test_a_reservation_alone_does_not_qualify(scheme: Engine, referrer: int) -> None:
    referee = join(scheme, "+79120000002", code_of(scheme, referrer), START + timedelta(days=1))
    at = START + timedelta(days=2)
    reserve(scheme, order("H-1", ("coat", "10000", 1), member={"member_id": referee}, occurred_at=at), at)
    assert reward(scheme, at + timedelta(days=30)) == 0


def test_the_terms_are_those_of_the_version_the_referral_was_made_under(scheme: Engine, referrer: int) -> None:
    referee = join(scheme, "+79120000002", code_of(scheme, referrer), START + timedelta(days=1))
    changed = START + timedelta(days=3)
    publish(scheme, seed_program(referrals={**SCHEME, "referrer_points": 100, "return_window_days": 60}), changed)
    bought = START + timedelta(days=4)
    buy(scheme, "R-1", referee, bought)
    assert reward(scheme, bought + timedelta(days=14)) == 1
    assert rules(scheme, referrer)[-1] == ("action", 700, "referral:referrer")
    assert entries(scheme, referrer)[0]["program_version"] == 1


# Refusals change nothing


def test_an_unknown_code_registers_nobody(scheme: Engine, referrer: int) -> None:
    before = everything(scheme)
    unknown = "ZZZZ2222" if code_of(scheme, referrer) != "ZZZZ2222" else "YYYY3333"
    with pytest.raises(InvalidInput) as error:
        join(scheme, "+79120000002", unknown)
    assert [(p.path, p.reason) for p in error.value.problems] == [
        ("referral_code", f"no member has the referral code {unknown}")
    ]
    with pytest.raises(InvalidInput) as error:
        join(scheme, "+79120000002", "not-a-code")
    assert error.value.problems[0].path == "referral_code"
    assert everything(scheme) == before


def test_a_code_under_a_program_without_referrals_is_refused(engine: Engine) -> None:
    publish(engine, seed_program())
    referrer = join(engine, "+79120000001")
    before = everything(engine)
    with pytest.raises(InvalidInput) as error:
        join(engine, "+79120000002", code_of(engine, referrer))
    assert [(p.path, p.reason) for p in error.value.problems] == [
        ("referral_code", "the program (version 1) has no referral scheme")
    ]
    assert everything(engine) == before


def test_every_member_gets_a_distinct_code_even_when_a_draw_collides(
    scheme: Engine, referrer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = code_of(scheme, referrer)
    draws = iter([taken, taken, "FRESH234"])
    monkeypatch.setattr(members, "new_code", lambda: next(draws))
    member_id = join(scheme, "+79120000002")
    assert code_of(scheme, member_id) == "FRESH234"
    assert code_of(scheme, referrer) == taken


# Attaching a code after registering


def test_a_code_attached_after_registering_gives_the_new_member_the_bonus(scheme: Engine, referrer: int) -> None:
    member_id = join(scheme, "+79120000002", at=START + timedelta(days=1))
    attached = START + timedelta(days=5)
    result = attach(scheme, member_id, code_of(scheme, referrer), attached)
    assert result == {
        "member_id": member_id,
        "referrer_id": referrer,
        "code": code_of(scheme, referrer),
        "status": "pending",
        "program_version": 1,
        "created_at": attached.isoformat(),
        "new_member_points": 300,
        "settled_at": None,
        "order_id": None,
        "referrer_points": 0,
        "reason": None,
    }
    assert rules(scheme, member_id)[-1] == ("action", 300, "referral:new_member")
    # The same code again is the same referral: nothing more is credited.
    before = everything(scheme)
    assert attach(scheme, member_id, code_of(scheme, referrer), attached + timedelta(hours=1)) == result
    assert everything(scheme) == before
    buy(scheme, "R-1", member_id, attached + timedelta(days=1))
    assert reward(scheme, attached + timedelta(days=15)) == 1


def refused(engine: Engine, error: type[LoyaltyError], work: Callable[[], Any]) -> LoyaltyError:
    before = everything(engine)
    with pytest.raises(error) as raised:
        work()
    assert everything(engine) == before
    return raised.value


def test_self_referral_is_refused(scheme: Engine, referrer: int) -> None:
    error = refused(scheme, InvalidInput, lambda: attach(scheme, referrer, code_of(scheme, referrer), START))
    assert isinstance(error, InvalidInput)
    assert error.problems[0].path == "code"
    assert "own referral code" in error.problems[0].reason


def test_loops_are_refused_directly_and_through_a_chain(scheme: Engine, referrer: int) -> None:
    child = join(scheme, "+79120000002", code_of(scheme, referrer), START)
    grandchild = join(scheme, "+79120000003", code_of(scheme, child), START)
    for downline in (child, grandchild):
        error = refused(scheme, InvalidInput, lambda d=downline: attach(scheme, referrer, code_of(scheme, d), START))
        assert isinstance(error, InvalidInput)
        assert error.problems[0].path == "code"
        assert "loop" in error.problems[0].reason


def test_a_second_referrer_is_a_conflict(scheme: Engine, referrer: int) -> None:
    other = join(scheme, "+79120000009")
    referee = join(scheme, "+79120000002", code_of(scheme, referrer), START)
    error = refused(scheme, Conflict, lambda: attach(scheme, referee, code_of(scheme, other), START))
    assert str(error) == f"member {referee} was already referred by member {referrer}"


def test_a_code_attached_too_late_or_after_a_purchase_is_a_conflict(scheme: Engine, referrer: int) -> None:
    code = code_of(scheme, referrer)
    late = join(scheme, "+79120000002", at=START)
    refused(scheme, Conflict, lambda: attach(scheme, late, code, START + timedelta(days=30, seconds=1)))
    shopper = join(scheme, "+79120000003", at=START)
    buy(scheme, "S-1", shopper, START + timedelta(hours=1))
    refused(scheme, Conflict, lambda: attach(scheme, shopper, code, START + timedelta(days=1)))
    cancel(scheme, "S-1", START + timedelta(hours=2))  # a confirmed order, even cancelled, was a purchase
    refused(scheme, Conflict, lambda: attach(scheme, shopper, code, START + timedelta(days=1)))


def test_a_released_reservation_is_no_purchase(scheme: Engine, referrer: int) -> None:
    member_id = join(scheme, "+79120000002", at=START)
    at = START + timedelta(hours=1)
    reserve(scheme, order("H-1", ("coat", "10000", 1), member={"member_id": member_id}, occurred_at=at), at)
    cancel(scheme, "H-1", at)
    assert attach(scheme, member_id, code_of(scheme, referrer), START + timedelta(days=1))["status"] == "pending"


# Caps


def test_over_the_lifetime_cap_a_referral_is_void(engine: Engine) -> None:
    publish_scheme(engine, max_per_referrer=2)
    referrer = join(engine, "+79120000001")
    referees = [join(engine, f"+7912000001{i}", code_of(engine, referrer), START) for i in range(3)]
    for i, referee in enumerate(referees):
        buy(engine, f"R-{i}", referee, START + timedelta(days=1, hours=i))
    assert reward(engine, START + timedelta(days=20)) == 2
    result = listing(engine, referrer)
    assert result["counts"] == {"pending": 0, "rewarded": 2, "void": 1}
    assert result["points"] == 1400
    assert [(r["member_id"], r["status"], r["reason"]) for r in result["referrals"]] == [
        (referees[0], "rewarded", None),
        (referees[1], "rewarded", None),
        (referees[2], "void", "cap reached"),
    ]
    assert [rule for _, _, rule in rules(engine, referrer)].count("referral:referrer") == 2
    # A void referral stays void: the new member kept their bonus, the referrer gets nothing later either.
    assert reward(engine, START + timedelta(days=200)) == 0
    assert ("action", 300, "referral:new_member") in rules(engine, referees[2])
    assert violations(engine) == []


def test_over_the_monthly_cap_a_referral_is_void(engine: Engine) -> None:
    publish_scheme(engine, max_per_referrer_per_month=1)
    referrer = join(engine, "+79120000001")
    first, second, third = (join(engine, f"+7912000001{i}", code_of(engine, referrer), START) for i in range(3))
    buy(engine, "R-1", first, START + timedelta(days=1))
    buy(engine, "R-2", second, START + timedelta(days=1))
    assert reward(engine, START + timedelta(days=20)) == 1
    assert [r["reason"] for r in listing(engine, referrer)["referrals"]] == [None, "cap reached for the month", None]
    buy(engine, "R-3", third, START + timedelta(days=30))
    assert reward(engine, START + timedelta(days=60)) == 1  # a month later: within the next month's cap
    assert listing(engine, referrer)["counts"] == {"pending": 0, "rewarded": 2, "void": 1}


# Concurrency


def together(n: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait()
        try:
            return work(i)
        except LoyaltyError as error:
            return error

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_concurrent_job_runs_reward_each_referral_once(scheme: Engine) -> None:
    referrers = [join(scheme, f"+7912000000{i}") for i in range(3)]
    referees = [
        join(scheme, f"+791200001{i:02d}", code_of(scheme, referrers[i % 3]), START + timedelta(days=1))
        for i in range(9)
    ]
    for i, referee in enumerate(referees):
        buy(scheme, f"R-{i}", referee, START + timedelta(days=2))
    at = START + timedelta(days=20)
    # Half the runs in one transaction, half as the job runs them: a transaction per two referrers.
    outcomes = together(8, lambda i: reward(scheme, at) if i % 2 else referrals.run(scheme, at, at, batch_size=2))
    assert sum(outcomes) == 9
    for referrer_id in referrers:
        assert [rule for _, _, rule in rules(scheme, referrer_id)].count("referral:referrer") == 3
    rewarded = read(
        scheme,
        lambda uow: uow.conn.execute(
            select(func.count()).select_from(t.ledger_entries).where(t.ledger_entries.c.rule_id == "referral:referrer")
        ).scalar_one(),
    )
    assert rewarded == 9
    assert violations(scheme) == []


def test_members_attaching_each_others_codes_at_once_make_no_loop(
    scheme: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's attach stops after reading its referrer's chain and stays there while B's attach starts. Serialised, B
    cannot read its own chain until A commits (on PostgreSQL it waits for A's lock, on SQLite its write lock is
    refused); were they not, B would read a chain without A's referral and both would be recorded. No timed waits:
    the test moves on only on an event (B read its chain, B waits for a lock, B was refused the lock)."""
    a, b = join(scheme, "+79120000001"), join(scheme, "+79120000002")
    codes = {a: code_of(scheme, b), b: code_of(scheme, a)}
    a_read, release_a, b_read = threading.Event(), threading.Event(), threading.Event()
    read_chain = referrals._chain

    def chain_then_hold(uow: Any, member_id: int) -> list[int]:
        chain = read_chain(uow, member_id)
        if threading.current_thread().name == "attach-a":
            a_read.set()
            release_a.wait()
        else:
            b_read.set()
        return chain

    monkeypatch.setattr(referrals, "_chain", chain_then_hold)
    at = START + timedelta(days=1)
    outcomes: dict[str, Any] = {}

    def attach_in(name: str, engine: Engine, member_id: int) -> threading.Thread:
        def work() -> None:
            try:
                outcomes[name] = attach(engine, member_id, codes[member_id], at)
            except (LoyaltyError, OperationalError) as error:
                outcomes[name] = error

        thread = threading.Thread(target=work, name=name)
        thread.start()
        return thread

    first = attach_in("attach-a", scheme, a)
    a_read.wait()
    # On SQLite B gets no busy time-out: a refused write lock is the proof, without waiting for anything.
    impatient = make_engine(database_url)
    if impatient.dialect.name == "sqlite":
        event.listen(impatient, "connect", lambda dbapi_conn, _record: dbapi_conn.execute("PRAGMA busy_timeout = 0"))
    second = attach_in("attach-b", impatient, b)
    while not (b_read.is_set() or "attach-b" in outcomes or _waits_for_a_lock(scheme)):
        time.sleep(0.005)
    assert not b_read.is_set(), "B read its referrer's chain while A's attach was still open"
    release_a.set()
    first.join()
    second.join()
    assert isinstance(outcomes["attach-a"], dict)
    if isinstance(outcomes["attach-b"], OperationalError):  # SQLite: B was refused the lock; A has committed now
        with pytest.raises(InvalidInput):
            attach(scheme, b, codes[b], at)
    else:
        assert isinstance(outcomes["attach-b"], InvalidInput)
    impatient.dispose()
    rows = read(scheme, lambda uow: uow.conn.execute(select(t.referrals.c.account_id)).scalars().all())
    assert len(rows) == 1


def _waits_for_a_lock(engine: Engine) -> bool:
    """Whether a PostgreSQL session waits for a lock held by another (SQLite refuses instead, see above)."""
    if engine.dialect.name == "sqlite":
        return False
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one())
