"""Pooled connections and units of work: a connection the server closed, or one that sat idle, is checked
before use (PostgreSQL), one in steady use is not; a read-only unit of work leaves its connection as it found it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.pool import NullPool

from loyalty.storage import database
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine


@pytest.fixture
def one_connection(database_url: str) -> Iterator[Engine]:
    """An engine whose pool holds a single connection, so every unit of work reuses it."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with UnitOfWork(engine, read_only=True) as uow:
        return int(uow.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(url: str, pid: int) -> None:
    """Have the server end the backend `pid`, and wait until it has."""
    admin = create_engine(database.normalise_url(url), poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"
            while conn.execute(text(alive), {"pid": pid}).scalar_one() and time.monotonic() < deadline:
                conn.rollback()
                time.sleep(0.01)
    finally:
        admin.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_connection_the_server_closed_is_replaced_before_use(database_url: str, one_connection: Engine) -> None:
    first = backend_pid(one_connection)
    terminate(database_url, first)
    assert backend_pid(one_connection) != first  # no error: the pool saw the closed connection and reconnected


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_connection_idle_for_long_is_pinged_before_use(
    database_url: str, one_connection: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend_pid(one_connection)
    terminate(database_url, first)
    # As if the connection had been dropped without a word (a firewall), and had sat idle past the limit.
    monkeypatch.setattr(database, "_has_input", lambda _connection: False)
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
    assert backend_pid(one_connection) != first


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_connection_in_steady_use_is_not_pinged(one_connection: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[object] = []
    ping = one_connection.dialect.do_ping

    def counted(connection: object) -> bool:
        pings.append(connection)
        return ping(connection)

    monkeypatch.setattr(one_connection.dialect, "do_ping", counted)
    first = backend_pid(one_connection)
    assert [backend_pid(one_connection) for _ in range(3)] == [first] * 3
    assert pings == []
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
    assert backend_pid(one_connection) == first
    assert len(pings) == 1


def test_a_read_only_unit_of_work_leaves_the_next_one_transactional(one_connection: Engine) -> None:
    with UnitOfWork(one_connection, read_only=True) as uow:
        assert uow.conn.execute(select(t.settings)).all() == []
    with UnitOfWork(one_connection) as uow:
        uow.conn.execute(t.settings.insert().values(name="left", value="uncommitted"))
    with UnitOfWork(one_connection) as uow:
        uow.conn.execute(t.settings.insert().values(name="kept", value="committed"))
        uow.commit()
    with UnitOfWork(one_connection, read_only=True) as uow:
        assert [r.name for r in uow.conn.execute(select(t.settings))] == ["kept"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_worker_serving_sixteen_requests_at_once_keeps_its_connections(database_url: str) -> None:
    """Opening a connection costs more than a checkout's transaction: under steady concurrency none is opened."""
    engine = make_engine(database_url)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    barrier = threading.Barrier(16)

    def transaction() -> None:
        with UnitOfWork(engine) as uow:
            barrier.wait(timeout=30)  # all sixteen hold a connection at the same time
            uow.conn.execute(text("SELECT 1"))
            uow.commit()

    try:
        for _round in range(3):
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda _: transaction(), range(16)))
        assert len(opened) == 16
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_a_pool_size_that_is_not_a_number_is_refused_by_name(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_DB_POOL_SIZE", "many")
    with pytest.raises(ValueError, match="LOYALTY_DB_POOL_SIZE must be a whole number; got 'many'"):
        make_engine(database_url)
