"""`loyalty demo`: the five-minute tour on a database of its own."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy import Engine

from loyalty.analytics import liability, periods, valuation
from loyalty.analytics import service as analytics
from loyalty.audit import service as audit_service
from loyalty.campaigns import publishing
from loyalty.checkout import imports
from loyalty.cli.terminal import DatabaseOption, fail, now, out, print_json, with_progress
from loyalty.core.errors import LoyaltyError
from loyalty.ledger import jobs
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine


def demo(database: DatabaseOption = None) -> None:
    """Publish the sample program, import the CDNOW purchase history, run the jobs, print the totals and the KPIs, and
    write the charts into ./loyalty-charts."""
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
    first = min(r.occurred_at for _, r, _ in requests)
    zone = version.program.timezone
    start = datetime.combine(first.astimezone(zone).date(), time(0), zone)
    history_end = datetime.combine(last.astimezone(zone).date() + timedelta(days=1), time(0), zone)
    show_kpis(engine, start, history_end, CHARTS)


CHARTS = Path("loyalty-charts")  # next to the demo's database, in the current directory


def show_kpis(engine: Engine, start: datetime, end: datetime, directory: Path) -> None:
    """The KPIs of the whole history [start, end) (engagement against the 70% line, and that of its last month,
    repeat rate, average check, liability and breakage), and its charts written to `directory`."""
    from loyalty.analytics import charts  # matplotlib takes a second to import: only the commands that draw pay it

    with UnitOfWork(engine, read_only=True) as uow:
        figures = analytics.kpis(uow, start, end)
        last_month = periods.months(start, end, valuation.program_before(uow, end).timezone)[-1]
        month = analytics.kpis(uow, last_month.start, last_month.end)["overall"]
        owed = liability.liability(uow, end)
        written = charts.write_charts(uow, start, end, directory)
    overall, currency = figures["overall"], figures["currency"]
    table = Table("KPI", "value", title=f"The demo history, {start.date()} to {end.date()} (not included)")
    good = {True: "at or above the 70% line", False: "below the 70% line", None: "no members"}
    table.add_row("engagement (active / registered)", f"{overall['engagement']}: {good[overall['engagement_good']]}")
    table.add_row(f"engagement in {last_month.label}", f"{month['engagement']}: {good[month['engagement_good']]}")
    table.add_row("repeat purchase rate", str(overall["repeat_purchase_rate"]))
    table.add_row("average check", f"{overall['average_check']} {currency}")
    table.add_row("liability", f"{owed['liability_points']} points, {owed['liability_money']} {currency}")
    table.add_row("breakage (expired / issued)", str(overall["breakage"]))
    table.add_row("expected breakage of the liability", str(owed["breakage"]["rate"]))
    out.print(table)
    out.print(f"Charts: {len(written)} files in {directory.resolve()}", highlight=False, soft_wrap=True)
