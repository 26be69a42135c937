"""What operators read: `loyalty audit` (the ledger's invariants) and `loyalty summary` (the program's totals)."""

from __future__ import annotations

from typing import Annotated

import typer

from loyalty.audit import service as audit_service
from loyalty.cli.terminal import DatabaseOption, as_of, err, now, out, print_json
from loyalty.storage.database import UnitOfWork, make_engine


def audit(
    list_checks: Annotated[
        bool, typer.Option("--list", help="List the checks and what each holds; check nothing.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Run every check of the ledger's invariants and report each; exit 1 and name the account on any violation."""
    if list_checks:
        for check in audit_service.CHECKS:
            out.print(f"{check.name}: {check.description}", highlight=False, soft_wrap=True)
        return
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        report = audit_service.check_all(uow)
    width = max(len(check.name) for check in audit_service.CHECKS)
    for check, found in report.found:
        out.print(f"{check.name:<{width}}  {f'{len(found)} violation(s)' if found else 'ok'}", highlight=False)
    checked = ", ".join(f"{v} {k}" for k, v in report.counts.items())
    if report.violations:
        for violation in report.violations:
            err.print(f"[red]VIOLATION[/red] {violation}")
        err.print(f"{len(report.violations)} violation(s) in {checked}")
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
