"""Rows written in bulk: gathered per table and written in large batches, in the order the tables were first
given rows (so that a row is written after the rows it refers to), inside the caller's transaction.

PostgreSQL takes them with `COPY` (one stream per table and batch); SQLite with `executemany` on one prepared
statement. Either way each row is checked by the database as an INSERT's would be."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, Table

from loyalty.storage.database import UnitOfWork

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
                    self.uow.conn.execute(table.insert(), rows)
                else:
                    _copy(self.uow, table, rows)
                self.written[table.name] = self.written.get(table.name, 0) + len(rows)
                rows.clear()
        self._pending = 0


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
                    json.dumps(row[name]) if name in json_columns and row[name] is not None else row[name]
                    for name in columns
                ]
            )
