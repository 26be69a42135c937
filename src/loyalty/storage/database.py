"""Engines and the unit of work. SQLite runs in WAL mode and takes its write lock at BEGIN (IMMEDIATE), so two
writers never both read a balance and then both spend it; PostgreSQL locks the account row (FOR UPDATE)."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import Row

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


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = normalise_url(database_url(url))
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


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
    """One transaction: commit() makes everything visible at once; leaving without commit() undoes it all."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only
        self.is_sqlite = engine.dialect.name == "sqlite"

    def __enter__(self) -> UnitOfWork:
        self.conn = self.engine.connect()
        self.conn.info["read_only"] = self.read_only
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

    def commit(self) -> None:
        self.conn.commit()

    def lock_account(self, account_id: int) -> Row[Any] | None:
        """The account row, locked until the end of the transaction (SQLite already holds the write lock)."""
        query = select(t.accounts).where(t.accounts.c.account_id == account_id)
        if not self.is_sqlite:
            query = query.with_for_update()
        return self.conn.execute(query).first()
