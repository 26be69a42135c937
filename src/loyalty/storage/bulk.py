"""Rows written in bulk: gathered per table and written in large batches, in the order the tables were first
given rows (so that a row is written after the rows it refers to), inside the caller's transaction.

PostgreSQL takes them with `COPY` (one stream per table and batch); SQLite with `executemany` on one prepared
statement. Either way each row is checked by the database as an INSERT's would be."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Engine, Table, exc, text

from loyalty.storage.database import UnitOfWork, json_text
from loyalty.storage.tables import UTCDateTime

BATCH = 20_000  # rows gathered (over every table) before they are written: memory stays flat


class BulkWriter:
    def __init__(self, uow: UnitOfWork, batch: int = BATCH) -> None:
        self.uow = uow
        self.batch = batch
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.written: dict[str, int] = {}
        self._pending = 0

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)
        self._pending += 1
        if self._pending >= self.batch:
            self.flush()

    def extend(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.add(table, row)

    def flush(self) -> None:
        """Write every gathered row, table by table in the order they were first given rows (a subclass that keeps
        hold of rows it gathered learns here that they are written)."""
        for table, rows in self.rows.items():
            if rows:
                if self.uow.is_sqlite:
                    _insert_many(self.uow, table, rows)
                else:
                    _copy(self.uow, table, rows)
                self.written[table.name] = self.written.get(table.name, 0) + len(rows)
                rows.clear()
        self._pending = 0


def _insert_many(uow: UnitOfWork, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows into `table` with one `executemany` (SQLite), each value bound by its column's type as
    SQLAlchemy binds it (the same text for instants and JSON), without SQLAlchemy's cost per row."""
    dialect = uow.conn.dialect
    instants: dict[datetime, str | None] = {}  # rows share instants (the import's, an order's): each bound once

    def instant(value: datetime | None) -> str | None:
        if value is None:
            return None
        found = instants.get(value)
        if found is None:
            found = instants[value] = _sqlite_instant(value)
        return found

    binds = {
        name: instant
        if isinstance(table.c[name].type, UTCDateTime)
        else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in rows[0]
    }
    plain = [name for name, bind in binds.items() if bind is None]
    bound = [(name, bind) for name, bind in binds.items() if bind is not None]
    names = ", ".join(f'"{name}"' for name in plain + [name for name, _ in bound])
    statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(binds))})'
    values = [(*(row[n] for n in plain), *(bind(row[n]) for n, bind in bound)) for row in rows]
    cursor = uow.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(statement, values)


def _sqlite_instant(value: datetime | None) -> str | None:
    """`UTCDateTime` bound for SQLite, as SQLAlchemy binds it (naive UTC, always with microseconds), in C."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; every timestamp must be aware")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _copy(uow: UnitOfWork, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY the rows into `table` (PostgreSQL): the columns the rows name, JSON columns as JSON text."""
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    names = ", ".join(f'"{name}"' for name in columns)
    cursor = uow.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [
                    json_text(row[name]) if name in json_columns and row[name] is not None else row[name]
                    for name in columns
                ]
            )


def refresh_statistics(engine: Engine, tables: Iterable[Table]) -> None:
    """After a large load, let the planner know the tables' new sizes (as PostgreSQL's documentation advises after
    a bulk load): PostgreSQL `ANALYZE` of `tables` (a sample of each), SQLite `PRAGMA optimize` (it analyses what
    needs it, within a limit). Otherwise a query planned on the old statistics may scan where it should seek, until
    autovacuum (when it runs at all) catches up."""
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ANALYZE " + ", ".join(f'"{table.name}"' for table in tables)))
            else:
                conn.exec_driver_sql("PRAGMA optimize")
    except exc.DBAPIError:
        # The import is committed already; statistics only help the planner, and autovacuum (or the next import)
        # refreshes them. A lock wait past the timeout, say behind a running autovacuum, must not fail the import.
        pass
