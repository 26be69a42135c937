"""The bulk import (`checkout.replay`) leaves exactly the ledger that confirming the same orders one by one leaves:
every member, identifier, account, entry, lot, draw, order, order line, tier, tier move, action and event, row for
row, over random histories — members new and already registered (with lots, tiers and orders of their own), tiers
on a rolling window, two program versions, pending points, expiry, orders paying with points, non-members,
campaigns with a budget and a cap per member, a personal offer, and the import's `redeem` stand-in — on SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text

from loyalty.campaigns import service as campaigns
from loyalty.checkout import imports, replay
from loyalty.checkout.requests import parse_order
from loyalty.experiments import service as experiments
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import make_engine
from tests.conftest import PG_URL, SKIP_REASON, _drop_pg_database, _fresh_pg_database
from tests.tiers.test_service import TIERS
from tests.usecases import NOW, publish, run, seed_program, violations

START = NOW - timedelta(days=500)
ROLLING = {**TIERS, "period": "rolling", "rolling_days": 90, "grace_days": 10}
EXTERNAL_IDS = [f"c{n}" for n in range(6)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def template(request: pytest.FixtureRequest) -> tuple[str, Any]:
    if request.param == "sqlite":
        return "sqlite", request.getfixturevalue("_sqlite_template")
    if not PG_URL:
        pytest.skip(SKIP_REASON)
    return "postgresql", request.getfixturevalue("_pg_template")


@contextlib.contextmanager
def twin_databases(template: tuple[str, Any], directory: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two migrated databases with the same program: one for the bulk import, one for the confirmations."""
    kind, source = template
    engines, names = [], []
    for n in range(2):
        if kind == "sqlite":
            path = directory / f"twin{n}.db"
            shutil.copyfile(source, path)
            url = f"sqlite:///{path}"
        else:
            url, name = _fresh_pg_database(template=source)
            names.append(name)
        engines.append(make_engine(url))
    try:
        for engine in engines:
            publish(engine, seed_program(tiers=ROLLING), effective_from=START)
            later = seed_program(tiers=ROLLING, earning={"pending_days": 0, "rules": [{"id": "base", "percent": 7}]})
            publish(engine, later, effective_from=START + timedelta(days=250))
            run(engine, lambda uow: [campaigns.create(uow, c, NOW) for c in CAMPAIGNS])
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            engine.dispose()
        for name in names:
            _drop_pg_database(name)


# A multiplier for a while, and a bonus per order with a budget and a cap per member, overlapping it: both in force
# in parts of the histories (START + 0..480 days), so budgets and caps run out in some of them.
CAMPAIGNS: list[dict[str, Any]] = [
    {
        "id": "double-days",
        "name": "Double days",
        "starts_at": (START + timedelta(days=100)).isoformat(),
        "ends_at": (START + timedelta(days=200)).isoformat(),
        "earning": {"multiplier": 2},
    },
    {
        "id": "bonus",
        "name": "300 points an order",
        "starts_at": (START + timedelta(days=50)).isoformat(),
        "ends_at": (START + timedelta(days=400)).isoformat(),
        "earning": {"fixed_points": 300},
        "budget_points": 1500,
        "per_member_cap_points": 400,
    },
]


def add_offer(engine: Engine) -> None:
    """A personal offer to the first registered member, if there is one, from day 300."""
    with engine.connect() as conn:
        first = conn.execute(select(t.members.c.member_id).order_by(t.members.c.member_id)).scalar()
    if first is None:
        return
    offer = {
        "id": "welcome-back",
        "name": "Welcome back",
        "starts_at": (START + timedelta(days=300)).isoformat(),
        "audience": {"members": [{"member_id": first}]},
        "earning": {"fixed_points": 100},
    }
    run(engine, lambda uow: campaigns.create(uow, offer, NOW, personal=True))


def state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table an import writes, in key order (a member's random referral code aside)."""
    tables = [
        t.members,
        t.member_identifiers,
        t.accounts,
        t.ledger_entries,
        t.lots,
        t.lot_draws,
        t.orders,
        t.order_lines,
        t.member_tiers,
        t.tier_history,
        t.action_events,
        t.events,
        t.campaigns,
        t.campaign_members,
        t.campaign_member_usage,
    ]
    found = {}
    with engine.connect() as conn:
        for table in tables:
            columns = [c for c in table.c if c.name != "referral_code"]
            key = list(table.primary_key.columns)
            found[table.name] = [tuple(r) for r in conn.execute(select(*columns).order_by(*key))]
    return found


orders = st.lists(
    st.tuples(
        st.integers(0, 480),  # day after START
        st.integers(0, 23),  # hour
        st.one_of(st.none(), st.sampled_from(EXTERNAL_IDS)),  # member (None: a non-member)
        st.integers(1, 3),  # quantity
        st.integers(100, 60_000),  # price, roubles
        st.sampled_from([0, 0, 0, 300, 5_000]),  # points asked
    ),
    min_size=1,
    max_size=25,
)


def requests_of(history: list[tuple[int, int, str | None, int, int, int]], prefix: str) -> list[Any]:
    found = []
    for n, (day, hour, member, quantity, price, points) in enumerate(history):
        data: dict[str, Any] = {
            "order_id": f"{prefix}-{n}",
            "occurred_at": (START + timedelta(days=day, hours=hour)).isoformat(),
            "lines": [{"line_id": "1", "sku": "s", "quantity": quantity, "price": str(Decimal(price))}],
            "points": points if member else 0,
        }
        if member:
            data["member"] = {"external_id": member}
        found.append((n + 1, parse_order(data, NOW), member))
    return found


def import_both(bulk: Engine, confirmed: Engine, requests: list[Any], redeem: bool) -> tuple[Any, Any]:
    """The same orders through the bulk import and order by order; either outcome, a summary or the rejection."""
    outcomes = []
    for engine, path in ((bulk, imports.import_orders), (confirmed, imports.one_by_one)):
        try:
            outcomes.append(path(engine, requests, NOW, create_members=True, redeem=redeem))
        except imports.ImportRejected as rejected:
            outcomes.append([str(e) for e in rejected.errors])
    return outcomes[0], outcomes[1]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(earlier=orders, history=orders, redeem=st.booleans())
def test_bulk_import_leaves_the_ledger_one_by_one_confirmation_leaves(
    template: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory, earlier: Any, history: Any, redeem: bool
) -> None:
    compare_imports(template, tmp_path_factory, earlier, history, redeem)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(earlier=orders, history=orders, redeem=st.booleans())
def test_members_let_go_between_chunks_and_read_back_leave_the_same_ledger(
    template: tuple[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    earlier: Any,
    history: Any,
    redeem: bool,
) -> None:
    """Chunks of 3 orders and 2 members kept: members are written and let go after nearly every chunk, and read
    back when they buy again — the ledger is still the one confirming order by order leaves."""
    monkeypatch.setattr(replay, "CHUNK_ORDERS", 3)
    monkeypatch.setattr(replay, "KEPT_MEMBERS", 2)
    compare_imports(template, tmp_path_factory, earlier, history, redeem)


def compare_imports(
    template: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory, earlier: Any, history: Any, redeem: bool
) -> None:
    with twin_databases(template, tmp_path_factory.mktemp("twins")) as (bulk, confirmed):
        # Members and orders already there: the replay starts from their accounts, lots, tiers and orders.
        first = requests_of(earlier, "a")
        for engine in (bulk, confirmed):
            with contextlib.suppress(imports.ImportRejected):
                imports.one_by_one(engine, first, NOW, create_members=True, redeem=True)
            add_offer(engine)
        assert state(bulk) == state(confirmed)
        outcome, expected = import_both(bulk, confirmed, requests_of(history, "b"), redeem)
        if isinstance(expected, list):  # rejected: every bad line, and nothing written
            assert outcome == expected
        else:
            assert outcome.reason is None, outcome.reason
            assert (outcome.created, outcome.unchanged, outcome.details) == (
                expected.created,
                expected.unchanged,
                expected.details,
            )
        assert state(bulk) == state(confirmed)
        assert violations(bulk) == []
        # Imported again: nothing changes, every order is already there.
        again, _ = import_both(bulk, confirmed, requests_of(history, "b"), redeem)
        if not isinstance(expected, list):
            assert (again.created, again.unchanged) == (0, len(history))
        assert state(bulk) == state(confirmed)


def test_campaign_budgets_and_caps_run_out_in_the_import_as_order_by_order(
    template: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    with twin_databases(template, tmp_path_factory.mktemp("twins")) as (bulk, confirmed):
        first = [(40, 1, "c1", 1, 5000, 0), (60, 1, "c1", 1, 5000, 0)]  # c1 got 300 of the bonus already
        for engine in (bulk, confirmed):
            imports.one_by_one(engine, requests_of(first, "a"), NOW, create_members=True)
            add_offer(engine)
        history = [(60 + 12 * n, 1, EXTERNAL_IDS[n % 4], 1, 5000, 0) for n in range(24)]
        outcome, expected = import_both(bulk, confirmed, requests_of(history, "b"), False)
        assert outcome.reason is None and outcome.created == expected.created == 24
        found = state(bulk)
        assert found == state(confirmed)
        usage = {(member, campaign): points for member, campaign, points in found["campaign_member_usage"]}
        assert usage[(1, "bonus")] == 400 and usage[(1, "welcome-back")] > 0  # the cap; the offer to member 1
        assert sum(n for (_, campaign), n in usage.items() if campaign == "bonus") == 1500  # the budget, used up
        assert violations(bulk) == []


def test_a_history_with_a_campaign_on_birthdays_is_confirmed_one_by_one(engine: Engine) -> None:
    publish(engine, seed_program(), effective_from=START)
    campaign = {"id": "birthday", "name": "Birthday", "starts_at": START.isoformat()}
    campaign["earning"] = {"multiplier": 2, "birthday": {"days_before": 3}}
    run(engine, lambda uow: campaigns.create(uow, campaign, NOW))
    summary = imports.import_orders(engine, requests_of([(10, 1, "c1", 1, 2000, 0)], "x"), NOW, create_members=True)
    assert summary.created == 1
    assert summary.reason is not None and "birthdays" in summary.reason
    assert violations(engine) == []


def test_a_file_naming_unknown_members_without_creating_them_is_refused_whole(engine: Engine) -> None:
    publish(engine, seed_program(), effective_from=START)
    with pytest.raises(imports.ImportRejected):
        imports.import_orders(engine, requests_of([(10, 1, "c1", 1, 2000, 0)], "x"), NOW)
    assert state(engine)["orders"] == []


def write_csv(path: Path, history: list[tuple[int, int, str | None, int, int, int]], prefix: str) -> None:
    """The orders as the generic CSV, two lines each, in the order given."""
    rows = ["order_id,member_external_id,occurred_at,line_id,sku,quantity,price,points"]
    for n, (day, hour, member, quantity, price, points) in enumerate(history):
        at = (START + timedelta(days=day, hours=hour)).isoformat()
        for line in ("1", "2"):
            rows.append(f"{prefix}-{n},{member or ''},{at},{line},s{line},{quantity},{price},{points if member else 0}")
    path.write_text("\n".join(rows) + "\n")


@settings(max_examples=6, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=orders, in_time_order=st.booleans())
def test_a_file_is_streamed_in_time_order_and_sorted_otherwise_to_the_same_ledger(
    template: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory, history: Any, in_time_order: bool
) -> None:
    directory = tmp_path_factory.mktemp("file")
    if in_time_order:
        history = sorted(history, key=lambda o: (o[0], o[1]))
    write_csv(directory / "orders.csv", history, "f")
    with twin_databases(template, directory) as (bulk, confirmed):
        zone = programs.lazy_time_zone(bulk, NOW)
        requests = imports.read_orders(directory / "orders.csv", NOW, zone)
        outcomes: list[Any] = []
        for run_import in (
            lambda: imports.import_order_file(bulk, directory / "orders.csv", NOW, zone, create_members=True),
            lambda: imports.one_by_one(confirmed, requests, NOW, create_members=True),
        ):
            try:
                outcomes.append(run_import())
            except imports.ImportRejected as rejected:  # points asked beyond the balance: the same lines refused
                outcomes.append([str(e) for e in rejected.errors])
        streamed, expected = outcomes
        if isinstance(expected, list):
            assert streamed == expected
        else:
            assert streamed.reason is None
            assert (streamed.created, streamed.details) == (expected.created, expected.details)
        assert state(bulk) == state(confirmed)


@pytest.mark.parametrize(
    ("between", "written"),
    [
        (timedelta(0), UTC),  # the order between at the same instant, written alike
        (timedelta(0), timezone(timedelta(hours=3))),  # at the same instant written otherwise: the replay tells
        (timedelta(days=1), UTC),  # later: the split order's second part breaks the time order
    ],
)
def test_the_lines_of_an_order_must_be_consecutive(
    engine: Engine, tmp_path: Path, between: timedelta, written: tzinfo
) -> None:
    """A file streamed in time order keeps only the ids of the last instant's orders, yet a split order is still
    a bad line, however the file is written."""
    publish(engine, seed_program(), effective_from=START)
    path = tmp_path / "orders.csv"
    at = START + timedelta(days=1)
    path.write_text(
        "order_id,member_external_id,occurred_at,line_id,sku,quantity,price\n"
        f"o1,c1,{at.isoformat()},1,s,1,100\no2,c1,{(at + between).astimezone(written).isoformat()},1,s,1,100\n"
        f"o1,c1,{at.isoformat()},2,s,1,100\n"
    )
    with pytest.raises(imports.ImportRejected) as rejected:
        imports.import_order_file(engine, path, NOW, programs.lazy_time_zone(engine, NOW), create_members=True)
    assert [str(e) for e in rejected.value.errors] == [
        "line 4: order o1: its lines must be consecutive, and an order came between them"
    ]
    assert state(engine)["orders"] == []


people = st.lists(
    st.tuples(
        st.sampled_from(EXTERNAL_IDS),
        st.one_of(st.none(), st.sampled_from(["+79120000001", "+79120000002"])),  # phones: some shared
        st.one_of(st.none(), st.sampled_from(["a@example.com", "b@example.com"])),
        st.sampled_from(["", "true", "false"]),  # email consent
        st.integers(-100, 400),  # registered, days after START (before the program: no bonus)
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(earlier=people, rows=people)
def test_bulk_member_import_registers_as_one_by_one(
    template: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory, earlier: Any, rows: Any
) -> None:
    directory = tmp_path_factory.mktemp("members")
    for name, chosen in (("earlier.csv", earlier), ("members.csv", rows)):
        lines = ["external_id,phone,email,consent_email,registered_at"]
        for external_id, phone, email, consent, day in chosen:
            at = (START + timedelta(days=day)).isoformat()
            lines.append(f"{external_id},{phone or ''},{email or ''},{consent},{at}")
        (directory / name).write_text("\n".join(lines) + "\n")
    with twin_databases(template, directory) as (bulk, confirmed):
        zone = programs.lazy_time_zone(bulk, NOW)
        for engine in (bulk, confirmed):  # members already there
            with contextlib.suppress(imports.ImportRejected):
                imports.members_one_by_one(engine, imports.read_members(directory / "earlier.csv", NOW, zone), NOW)
        outcomes: list[Any] = []
        for run_import in (
            lambda: imports.import_members(bulk, directory / "members.csv", NOW),
            lambda: imports.members_one_by_one(
                confirmed, imports.read_members(directory / "members.csv", NOW, zone), NOW
            ),
        ):
            try:
                summary = run_import()
                outcomes.append((summary.created, summary.unchanged, summary.reason))
            except imports.ImportRejected as rejected:
                outcomes.append([str(e) for e in rejected.errors])
        assert outcomes[0] == outcomes[1]
        assert state(bulk) == state(confirmed)
        with bulk.connect() as a, confirmed.connect() as b:
            consents = select(t.consents).order_by(*t.consents.primary_key)
            assert a.execute(consents).all() == b.execute(consents).all()
        assert violations(bulk) == []


def test_a_history_during_an_experiment_is_confirmed_one_by_one_and_its_holdout_earns_nothing(engine: Engine) -> None:
    publish(engine, seed_program(), effective_from=START)
    data = {
        "experiment_id": "everyone-out",
        "name": "Everyone held out",
        "kind": "holdout",
        "share": "0.5",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(days=100)).isoformat(),
    }
    run(engine, lambda uow: experiments.create(uow, data, NOW, lambda: UTC))
    history = [(10, 1, f"m{n}", 1, 2000, 0) for n in range(30)]
    summary = imports.import_orders(engine, requests_of(history, "x"), NOW, create_members=True)
    assert summary.created == 30
    assert summary.reason is not None and "experiment" in summary.reason
    with engine.connect() as conn:
        earned = dict(conn.execute(select(t.orders.c.order_key, t.orders.c.points_earned)).all())
    assert 0 in earned.values() and any(earned.values())  # the control group earned nothing, the others earned
    assert violations(engine) == []


def test_orders_held_out_by_an_experiment_that_ended_count_towards_no_tier_in_the_import_either(
    template: tuple[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A program holdout over days 0-100 (confirmed one by one, held-out orders marked); then orders after it,
    imported in bulk and one by one: the tiers reached are the same (held-out spending does not count)."""
    with twin_databases(template, tmp_path_factory.mktemp("twins")) as (bulk, confirmed):
        data = {
            "experiment_id": "half-out",
            "name": "Half held out",
            "kind": "holdout",
            "share": "0.5",
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(days=100)).isoformat(),
        }
        during = [(10 + n, 1, EXTERNAL_IDS[n % 6], 1, 40_000, 0) for n in range(12)]
        for engine in (bulk, confirmed):
            run(engine, lambda uow: experiments.create(uow, data, NOW, lambda: UTC))
            imports.one_by_one(engine, requests_of(during, "a"), NOW, create_members=True)
        with bulk.connect() as conn:
            marked = conn.execute(select(t.orders.c.order_key).where(t.orders.c.program_withheld_by.is_not(None)))
            assert marked.first() is not None  # some members were held out
        after = [(101 + n, 1, EXTERNAL_IDS[n % 6], 1, 30_000, 0) for n in range(12)]
        outcome, expected = import_both(bulk, confirmed, requests_of(after, "b"), False)
        assert outcome.reason is None and outcome.created == expected.created == 12
        assert state(bulk) == state(confirmed)
        assert violations(bulk) == []


def test_a_large_import_leaves_the_planner_statistics_of_what_it_loaded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a bulk import of many orders (here: from 3), PostgreSQL knows the tables' new sizes (ANALYZE) rather
    than planning the next reports on empty tables; SQLite gets `PRAGMA optimize`."""
    monkeypatch.setattr(imports, "ANALYZED_FROM", 3)
    publish(engine, seed_program(), effective_from=START)
    imports.import_orders(
        engine, requests_of([(10 + n, 1, "c1", 1, 2000, 0) for n in range(4)], "x"), NOW, create_members=True
    )
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        analysed = conn.execute(
            text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL ORDER BY relname")
        ).scalars()
        assert {"orders", "order_lines", "ledger_entries", "lots", "accounts", "members"} <= set(analysed)


def test_a_large_member_import_leaves_the_planner_statistics_too(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(imports, "ANALYZED_FROM", 3)
    publish(engine, seed_program(), effective_from=START)
    path = tmp_path / "members.csv"
    path.write_text("external_id,consent_email\nm1,true\nm2,false\nm3,true\n")
    assert imports.import_members(engine, path, NOW).created == 3
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        analysed = conn.execute(text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"))
        assert {"members", "member_identifiers", "consents", "accounts"} <= set(analysed.scalars())


@pytest.mark.postgres
def test_statistics_that_cannot_be_refreshed_do_not_fail_a_committed_import(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's ANALYZE waiting past the lock timeout (another session holds the table, as a running autovacuum
    would): the import is committed and reported, not failed."""
    if not PG_URL:
        pytest.skip(SKIP_REASON)
    monkeypatch.setattr(imports, "ANALYZED_FROM", 3)
    monkeypatch.setenv("LOYALTY_DB_LOCK_TIMEOUT_MS", "200")
    url, name = _fresh_pg_database(template=request.getfixturevalue("_pg_template"))
    engine = make_engine(url)
    try:
        publish(engine, seed_program(), effective_from=START)
        with engine.connect() as holder:
            holder.execute(text("LOCK TABLE lots IN SHARE UPDATE EXCLUSIVE MODE"))  # ANALYZE's own lock
            summary = imports.import_orders(
                engine, requests_of([(10 + n, 1, "c1", 1, 2000, 0) for n in range(4)], "x"), NOW, create_members=True
            )
            holder.rollback()
        assert summary.created == 4
        assert len(state(engine)["orders"]) == 4
    finally:
        engine.dispose()
        _drop_pg_database(name)
