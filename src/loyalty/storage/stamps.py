"""Stamps: rows of `settings` that change with every change of something each process keeps in memory (the program
versions, the campaigns), so that a process may go on using what it read while the stamp stays the same.

The checkout reads the stamps along with the member's account, in the statement that locks it (`COLUMNS`, then
`remember`), so that knowing whether its caches are current costs no round trip of its own; so does the first
account lock of any other unit of work (`ledger.repository.lock`, `lock_many`: action bonuses and the jobs ask
whether an experiment holds a member out). A unit of work that locks no account first reads them once, when first
asked (`get`). Whoever changes what a stamp covers writes a new one (`renew`) in the
same transaction: the other processes see it, and reload, from their first transaction after it commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Label, Row, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

PROGRAM = "program.stamp"
CAMPAIGNS = "campaigns.stamp"
EXPERIMENTS = "experiments.stamp"  # the experiments and the stores registry their cities are read through
NAMES = (PROGRAM, CAMPAIGNS, EXPERIMENTS)

# The stamps as extra columns of any statement (scalar subqueries on the primary key of `settings`).
COLUMNS: tuple[Label[Any], ...] = tuple(
    select(t.settings.c.value).where(t.settings.c.name == name).scalar_subquery().label(f"stamp_{i}")
    for i, name in enumerate(NAMES)
)


def remember(uow: UnitOfWork, row: Row[Any]) -> None:
    """Keep the stamps a statement with `COLUMNS` read, for the rest of the unit of work."""
    mapping = row._mapping
    uow.stamps = {name: mapping[column.name] for name, column in zip(NAMES, COLUMNS, strict=True)}


def get(uow: UnitOfWork, name: str) -> str | None:
    """The stamp `name` as this unit of work first saw it; None when nothing it covers was ever changed."""
    if uow.stamps is None:
        uow.stamps = dict.fromkeys(NAMES)
        uow.stamps.update((name, value) for name, value in uow.conn.execute(_READ, {"names": list(NAMES)}))
    return uow.stamps[name]


def renew(uow: UnitOfWork, name: str) -> None:
    """A new stamp `name`, written in the caller's transaction, which has changed what it covers."""
    value = uuid.uuid4().hex
    insert = postgresql.insert if uow.conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(t.settings).values(name=name, value=value)
    uow.conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": statement.excluded.value}))
    if uow.stamps is not None:
        uow.stamps[name] = value


_READ = select(t.settings.c.name, t.settings.c.value).where(t.settings.c.name.in_(bindparam("names", expanding=True)))
