"""The audit: a registry of named checks of the ledger's invariants, run one after the other in one read-only
transaction, each reporting the violations it finds. The checks of the ledger's own arithmetic are in
`arithmetic`, those tying it to the orders, returns and events that explain its entries in `links`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from loyalty.audit import arithmetic, links
from loyalty.ledger.model import Violation
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

__all__ = ["CHECKS", "Check", "Report", "Violation", "check_all", "run"]


@dataclass(frozen=True)
class Check:
    """One invariant: its name (as `loyalty audit` reports it), what it holds to be true, and the function that
    returns its violations."""

    name: str
    description: str
    find: Callable[[Connection], list[Violation]]

    @classmethod
    def of(cls, find: Callable[[Connection], list[Violation]]) -> Check:
        """The check a function makes, named after it (`order_entries`: order-entries) and described by the first
        paragraph of its docstring, which states the invariant."""
        doc = inspect.getdoc(find) or ""
        return cls(find.__name__.replace("_", "-"), " ".join(doc.split("\n\n")[0].split()), find)


CHECKS: tuple[Check, ...] = tuple(
    Check.of(find)
    for find in (
        arithmetic.account_totals,
        arithmetic.lot_remainders,
        arithmetic.entry_movements,
        arithmetic.returns_within_orders,
        links.order_entries,
        links.order_lines,
        links.entry_links,
        links.return_entries,
        links.returned_lines,
        links.action_entries,
        links.entry_versions,
        links.held_out_orders,
    )
)


@dataclass(frozen=True)
class Report:
    """What each check found, in the order of CHECKS, and how many rows of each kind were there to check."""

    found: tuple[tuple[Check, list[Violation]], ...]
    counts: dict[str, int]

    @property
    def violations(self) -> list[Violation]:
        return [violation for _, violations in self.found for violation in violations]


def check_all(uow: UnitOfWork) -> Report:
    """Run every check of CHECKS on one snapshot of the database (the caller's transaction)."""
    c = uow.conn
    found = tuple((check, check.find(c)) for check in CHECKS)
    counts = {
        name: c.execute(select(func.count()).select_from(table)).scalar_one()
        for name, table in (
            ("accounts", t.accounts),
            ("entries", t.ledger_entries),
            ("lots", t.lots),
            ("orders", t.orders),
            ("returns", t.returns),
            ("events", t.action_events),
        )
    }
    return Report(found, counts)


def run(uow: UnitOfWork) -> tuple[list[Violation], dict[str, int]]:
    """All violations, and counts of what was checked."""
    report = check_all(uow)
    return report.violations, report.counts
