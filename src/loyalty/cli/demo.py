"""`loyalty demo`: the five-minute tour on a database of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import typer

from loyalty.audit import service as audit_service
from loyalty.campaigns import publishing
from loyalty.checkout import imports
from loyalty.cli.terminal import DatabaseOption, fail, now, out, print_json, with_progress
from loyalty.core.errors import LoyaltyError
from loyalty.ledger import jobs
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine


def demo(database: DatabaseOption = None) -> None:
    """Publish the sample program, import the CDNOW purchase history, run the jobs and print the totals."""
    from loyalty.ledger.summary import summary
    from loyalty.storage.migrate import upgrade

    at = now()
    upgrade(database)  # the demo sets up its own database; a server never migrates (see `serve`)
    engine = make_engine(database)
    demo_files = files("loyalty.demo")
    document = programs.read_document(demo_files.joinpath("program.yaml").read_text(encoding="utf-8"), "program.yaml")
    with UnitOfWork(engine) as uow:
        version = publishing.publish(uow, document, datetime(1997, 1, 1, tzinfo=UTC), at)
        uow.commit()
    out.print(f"Program version {version.number}: {version.program.name}")
    requests = imports.read_cdnow(Path(str(demo_files.joinpath("cdnow_sample.txt"))), at, Decimal(100))
    progress, step = with_progress(len(requests), "CDNOW orders")
    try:
        with progress:
            result = imports.import_orders(engine, requests, at, create_members=True, redeem=True, progress=step)
    except LoyaltyError as error:
        fail(error)
    last = max(r.occurred_at for _, r, _ in requests)
    end = last.replace(hour=23, minute=59, second=59)
    jobs.activate(engine, end, end)
    expired = jobs.expire(engine, end, at)
    out.print(
        f"Imported {result.created} orders ({result.unchanged} already there); "
        f"expired {expired['points']} points as of {end.date()}"
    )
    with UnitOfWork(engine, read_only=True) as uow:
        report = summary(uow, end)
        violations, _ = audit_service.run(uow)
    print_json(report)
    out.print("Ledger audit: " + ("OK" if not violations else f"{len(violations)} violations"))
    if violations:
        raise typer.Exit(1)
