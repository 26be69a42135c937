"""What operators read: `loyalty audit` (the ledger's invariants) and `loyalty summary` (the program's totals)."""

from __future__ import annotations

from typing import Annotated

import typer

from loyalty.audit import service as audit_service
from loyalty.cli.terminal import DatabaseOption, as_of, err, now, out, print_json
from loyalty.storage.database import UnitOfWork, make_engine


def audit(database: DatabaseOption = None) -> None:
    """Check every ledger invariant; exit 1 and name the account on any violation."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        violations, counts = audit_service.run(uow)
    checked = ", ".join(f"{v} {k}" for k, v in counts.items())
    if violations:
        for violation in violations:
            err.print(f"[red]VIOLATION[/red] {violation}")
        err.print(f"{len(violations)} violation(s) in {checked}")
        raise typer.Exit(1)
    out.print(f"Ledger OK: {checked} checked")


def summary(
    as_of_option: Annotated[
        str | None, typer.Option("--as-of", help="The totals as they stood then (default: now).")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Print the program's totals: members, orders, points issued, spent, expired and outstanding."""
    from loyalty.ledger.summary import summary as totals

    engine = make_engine(database)
    at = as_of(as_of_option, engine, now())
    with UnitOfWork(engine, read_only=True) as uow:
        print_json(totals(uow, at))
