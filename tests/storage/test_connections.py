"""Pooled connections and units of work: a connection the server closed, or one that sat idle, is checked
before use (PostgreSQL), one in steady use is not; a read-only unit of work leaves its connection as it found it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, select, text
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
