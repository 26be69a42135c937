"""The stores registry: each store an order may name (orders.store) and the city it is in. A city is the city of
the order's store; a split test by city (experiments) reads its stores here.

Any change renews the experiments' stamp: the checkout keeps the stores of each experiment's cities in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput, NotFound
from loyalty.core.file_formats import STORE_COLUMNS
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

HEADER = STORE_COLUMNS
MAX_IMPORT_BYTES = 64 * 1024 * 1024  # a registry of a few hundred thousand stores


@dataclass(frozen=True)
class Store:
    store_id: str
    city: str
    name: str | None = None


def checked(store_id: object, city: object, name: object, where: str = "") -> tuple[Store | None, list[FieldProblem]]:
    """A store from raw values, or the problems with them (each naming its field, after `where`)."""
    problems: list[FieldProblem] = []
    sid = _text(store_id, f"{where}store_id", limits.STORE, problems)
    place = _text(city, f"{where}city", limits.CITY, problems)
    label = None
    if name is not None and str(name).strip():
        label = _text(name, f"{where}name", limits.NAME, problems)
    if problems or sid is None or place is None:
        return None, problems
    return Store(sid, place, label), []


def _text(value: object, path: str, length: int, problems: list[FieldProblem]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(FieldProblem(path, "is required: a non-empty text"))
        return None
    text = value.strip()
    if len(text) > length:
        problems.append(FieldProblem(path, f"must be at most {length} characters"))
        return None
    if any(ord(c) < 32 for c in text):
        problems.append(FieldProblem(path, "must not contain control characters"))
        return None
    return text


def put(uow: UnitOfWork, store_id: str, city: object, name: object, now: datetime) -> dict[str, Any]:
    """Create the store or change its city and name (the same body twice changes nothing the second time)."""
    store, problems = checked(store_id, city, name)
    if store is None:
        raise InvalidInput(problems)
    _upsert(uow, [store], now)
    return get(uow, store.store_id)


def import_stores(uow: UnitOfWork, stores: list[Store], now: datetime) -> dict[str, int]:
    """Create or change every store of a checked file, in the caller's transaction."""
    known = {row[0] for row in uow.conn.execute(select(t.stores.c.store_id))}
    _upsert(uow, stores, now)
    created = sum(1 for s in stores if s.store_id not in known)
    return {"stores": len(stores), "created": created, "updated": len(stores) - created}


def _upsert(uow: UnitOfWork, stores: Iterable[Store], now: datetime) -> None:
    by_id = {s.store_id: s for s in stores}
    existing = (
        {row.store_id: row for row in uow.conn.execute(select(t.stores).where(t.stores.c.store_id.in_(list(by_id))))}
        if len(by_id) <= 1000
        else {row.store_id: row for row in uow.conn.execute(select(t.stores))}
    )
    changed = False
    new = []
    for store in by_id.values():
        row = existing.get(store.store_id)
        if row is None:
            new.append(
                {
                    "store_id": store.store_id,
                    "city": store.city,
                    "name": store.name,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif (row.city, row.name) != (store.city, store.name):
            uow.conn.execute(
                t.stores.update()
                .where(t.stores.c.store_id == store.store_id)
                .values(city=store.city, name=store.name, updated_at=now)
            )
            changed = True
    if new:
        # A store another transaction has just created is changed to what this one says, not a failure.
        insert = postgresql.insert(t.stores) if uow.conn.dialect.name == "postgresql" else sqlite.insert(t.stores)
        excluded = insert.excluded
        uow.conn.execute(
            insert.on_conflict_do_update(
                index_elements=["store_id"],
                set_={"city": excluded.city, "name": excluded.name, "updated_at": excluded.updated_at},
            ),
            new,
        )
    if new or changed:
        stamps.renew(uow, stamps.EXPERIMENTS)  # a split by city reads its stores from here


def get(uow: UnitOfWork, store_id: str) -> dict[str, Any]:
    if any(ord(c) < 32 for c in store_id):  # no store has one (`checked`), and PostgreSQL text cannot hold NUL
        raise NotFound(f"no store {store_id!r}")
    row = uow.conn.execute(select(t.stores).where(t.stores.c.store_id == store_id)).first()
    if row is None:
        raise NotFound(f"no store {store_id}")
    return _json(row)


def list_stores(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every store, by city and then id."""
    rows = uow.conn.execute(select(t.stores).order_by(t.stores.c.city, t.stores.c.store_id))
    return [_json(row) for row in rows]


def cities(uow: UnitOfWork) -> dict[str, list[str]]:
    """Each city and its stores' ids."""
    found: dict[str, list[str]] = {}
    for store_id, city in uow.conn.execute(select(t.stores.c.store_id, t.stores.c.city).order_by(t.stores.c.store_id)):
        found.setdefault(city, []).append(store_id)
    return found


def _json(row: Any) -> dict[str, Any]:
    return {
        "store_id": row.store_id,
        "city": row.city,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def read_file(path: Path) -> list[Store]:
    """The stores of a CSV file of `store_id,city,name` lines (a header line of those names is skipped; `name` may
    be left out). All or nothing: InvalidInput listing every bad line."""
    try:
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise InvalidInput.at("file", f"must be at most {MAX_IMPORT_BYTES} bytes")
        data = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput.at("file", f"cannot be read as UTF-8 text: {error}") from error
    return read_lines(data)


def read_lines(data: str) -> list[Store]:
    stores: list[Store] = []
    problems: list[FieldProblem] = []
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(data))
    try:
        for row in reader:
            number = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if number == 1 and tuple(c.strip().lower() for c in row[:3]) == HEADER[: len(row[:3])]:
                continue  # the header
            if len(row) not in (2, 3):
                problems.append(FieldProblem(f"line {number}", f"has {len(row)} fields; expected store_id,city,name"))
                continue
            store, bad = checked(row[0], row[1], row[2] if len(row) == 3 else None, f"line {number}: ")
            problems.extend(bad)
            if store is None:
                continue
            if store.store_id in seen:
                problems.append(
                    FieldProblem(
                        f"line {number}: store_id", f"{store.store_id} is already on line {seen[store.store_id]}"
                    )
                )
                continue
            seen[store.store_id] = number
            stores.append(store)
    except csv.Error as error:
        problems.append(FieldProblem(f"line {reader.line_num}", f"is not CSV: {error}"))
    if problems:
        raise InvalidInput(problems)
    if not stores:
        raise InvalidInput.at("file", "has no stores")
    return stores
