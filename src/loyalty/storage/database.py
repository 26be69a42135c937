"""Engines and the unit of work. SQLite runs in WAL mode and takes its write lock at BEGIN (IMMEDIATE), so two
writers never both read a balance and then both spend it; PostgreSQL locks the account row (FOR UPDATE)."""

from __future__ import annotations

import os
import select as io_select
import sqlite3
import time
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Insert, bindparam, create_engine, event, exc, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from loyalty.core.events import Event
from loyalty.storage import tables as t

DEFAULT_URL = "sqlite:///loyalty.db"


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("LOYALTY_DATABASE_URL") or DEFAULT_URL


def normalise_url(url: str) -> str:
    """Let operators write postgresql:// and still get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def json_text(value: Any) -> str:
    """A JSON column's value as stored: compact, UTF-8, keys that are not text written as text (as `json` does)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str | None = None, *, timeouts: bool = True, **kwargs: Any) -> Engine:
    """An engine for `url` (default: LOYALTY_DATABASE_URL). On PostgreSQL every connection waits for a lock at most
    LOYALTY_DB_LOCK_TIMEOUT_MS and runs a statement at most LOYALTY_DB_STATEMENT_TIMEOUT_MS, so a stuck lock fails
    a request quickly instead of hanging it; `timeouts=False` (migrations) waits as long as it takes."""
    url = normalise_url(database_url(url))
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # Enough pooled connections for every request a worker serves at once: a connection beyond the pool is opened
    # for one transaction and closed after it, and opening one (a new server process, authentication, the
    # settings below) costs more than the transaction.
    kwargs.setdefault("pool_size", _whole("LOYALTY_DB_POOL_SIZE", 20))
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    # Rows inserted together (an order's lines, its ledger entries) go as one INSERT with many VALUES, as SQLAlchemy
    # does for psycopg2, rather than psycopg 3's executemany, which runs the statement once per row on the server.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    _check_pooled_connections(engine)
    if timeouts:
        _set_timeouts(
            engine,
            _milliseconds("LOYALTY_DB_LOCK_TIMEOUT_MS", 5000),
            _milliseconds("LOYALTY_DB_STATEMENT_TIMEOUT_MS", 30000),
        )
    return engine


def _milliseconds(variable: str, default: int) -> int:
    return _whole(variable, default, "a whole number of milliseconds (0: no limit)")


def _whole(variable: str, default: int, what: str = "a whole number") -> int:
    configured = os.environ.get(variable, "")
    if not configured:
        return default
    if not configured.isdigit():
        raise ValueError(f"{variable} must be {what}; got {configured!r}")
    return int(configured)


def _set_timeouts(engine: Engine, lock_ms: int, statement_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {lock_ms}")
            cursor.execute(f"SET statement_timeout = {statement_ms}")
        dbapi_connection.commit()  # else the pool's rollback on check-in would undo the settings


class CommitOutcomeUnknown(Exception):
    """The connection to the database was lost while a COMMIT was on its way: the transaction may have been recorded
    or not, and only reading again (or retrying an idempotent request) tells."""


class Failure(Enum):
    """Why the database could not serve a request, when it is not a defect: a retry later may succeed."""

    DOWN = "down"  # out of reach: refused, dropped or shutting down
    BUSY = "busy"  # waited too long for a lock or a statement, or chosen as a deadlock's victim; nothing was done


def failure_of(error: BaseException) -> Failure | None:
    """The kind of unavailability `error` reports, or None when it is something else (a defect)."""
    if isinstance(error, exc.TimeoutError):  # no pooled connection came free in time
        return Failure.BUSY
    if not isinstance(error, exc.DBAPIError):
        return None
    if error.connection_invalidated:
        return Failure.DOWN
    state = getattr(error.orig, "sqlstate", None)
    if state in _BUSY_STATES:
        return Failure.BUSY
    if state is not None and state[:2] in _DOWN_CLASSES:
        return Failure.DOWN
    if isinstance(error.orig, sqlite3.OperationalError):
        message = str(error.orig)
        if message.startswith(("database is locked", "database table is locked")):
            return Failure.BUSY
        if message.startswith(("unable to open database file", "disk I/O error")):
            return Failure.DOWN
        return None
    # psycopg reports a connection it could not open with no SQLSTATE
    if isinstance(error, exc.OperationalError) and state is None:
        return Failure.DOWN
    return None


# lock_not_available (lock_timeout), query_canceled (statement_timeout), serialization_failure, deadlock_detected
_BUSY_STATES = frozenset({"55P03", "57014", "40001", "40P01"})
# connection_exception, insufficient_resources, operator_intervention (admin shutdown, cannot connect now...)
_DOWN_CLASSES = frozenset({"08", "53", "57"})


# A pooled PostgreSQL connection may have died while it waited (the server restarted, or terminated its backend).
# pool_pre_ping would find out with a round trip before every transaction, a good part of a short one's cost.
# Instead a connection is pinged only when it may be stale: when the server has sent it something while it was not
# in use (a server that shuts a connection down says so and closes it, which makes the socket readable), or when
# it sat in the pool longer than IDLE_PING_SECONDS (a firewall may have dropped it without a word). As with
# pool_pre_ping, a failed ping discards every pooled connection and the unit of work gets a new one.
IDLE_PING_SECONDS = 5.0


def _check_pooled_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None:
            return  # a new connection
        if time.monotonic() - idle_since < IDLE_PING_SECONDS and not _has_input(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError(f"pooled connection failed its ping: {error}") from error


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the server has sent something to an idle connection; True when that cannot be told."""
    try:
        readable, _, _ = io_select.select([dbapi_connection.fileno()], [], [], 0)
    except Exception:  # a closed connection, or a descriptor select() cannot watch: let the ping decide
        return True
    return bool(readable)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN" if connection.info.get("read_only") else "BEGIN IMMEDIATE")


class UnitOfWork:
    """One transaction: commit() makes everything visible at once; leaving without commit() undoes it all.

    A read-only unit of work on PostgreSQL reads outside a transaction: under READ COMMITTED a transaction gives
    reads nothing more (each statement sees what was committed when it started, in a transaction or not), and its
    BEGIN and ROLLBACK would be two of a quote's few round trips. On SQLite a read transaction keeps one snapshot.
    A `snapshot` unit of work reads in one REPEATABLE READ transaction on PostgreSQL too: a long report that reads
    several statements' worth, some of them streamed through server-side cursors (which need a transaction).
    """

    def __init__(self, engine: Engine, *, read_only: bool = False, snapshot: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only or snapshot
        self.snapshot = snapshot
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.stamps: dict[str, str | None] | None = None  # storage.stamps: as this unit of work first read them
        self.events: list[dict[str, Any]] = []  # recorded by emit(), written to the outbox by commit()

    def __enter__(self) -> UnitOfWork:
        self.conn = self.engine.connect()
        self.conn.info["read_only"] = self.read_only
        if self.read_only and not self.is_sqlite:
            # Reset when the connection goes back to the pool.
            self.conn.execution_options(isolation_level="REPEATABLE READ" if self.snapshot else "AUTOCOMMIT")
        self.conn.begin()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
        finally:
            self.conn.close()

    def emit(self, event: Event, recorded_at: datetime) -> None:
        """Record `event` in the outbox when this unit of work commits (with everything else, or not at all)."""
        self.events.append(
            {
                "account_id": event.account_id,
                "kind": event.kind.value,
                "occurred_at": event.occurred_at,
                "recorded_at": recorded_at,
                "key": event.key,
                "data": event.data,
            }
        )

    def commit(self) -> None:
        if self.events:
            # One statement for all of them; an event whose key its account already has is recorded once.
            self.conn.execute(_INSERT_EVENTS[self.is_sqlite], self.events)
            self.events = []
        try:
            self.conn.commit()
        except exc.DBAPIError as error:
            if error.connection_invalidated:
                raise CommitOutcomeUnknown(str(error.orig)) from error
            raise

    def lock_account(self, account_id: int) -> Row[Any] | None:
        """The account row, locked until the end of the transaction (SQLite already holds the write lock)."""
        return self.conn.execute(_LOCK_ACCOUNT, {"account_id": account_id}).first()


_INSERT_EVENTS: dict[bool, Insert] = {
    True: sqlite.insert(t.events).on_conflict_do_nothing(),
    False: postgresql.insert(t.events).on_conflict_do_nothing(),
}

# SQLite compiles FOR UPDATE to nothing: its writing transactions hold the database's write lock from BEGIN.
_LOCK_ACCOUNT = select(t.accounts).where(t.accounts.c.account_id == bindparam("account_id")).with_for_update()
