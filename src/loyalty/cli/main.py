"""The operator's command line: `loyalty --help`. Commands are thin: they parse arguments, call a use case
and print its result. Each area's commands live in a module of their own; this one assembles them."""

from __future__ import annotations

import typer
from sqlalchemy import exc

from loyalty.cli import (
    accounting,
    analytics,
    campaigns,
    demo,
    experiments,
    generate,
    jobs,
    keys,
    members,
    messages,
    messaging,
    orders,
    program,
    reports,
    segments,
    serve,
    simulate,
    stores,
    terminal,
    worker,
)

app = typer.Typer(help="Loyalty: a bonus-points program engine.", no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(serve.db_app, name="db")
app.add_typer(program.app, name="program")
app.add_typer(members.app, name="members")
app.add_typer(orders.app, name="orders")
app.add_typer(jobs.app, name="jobs")
app.add_typer(keys.app, name="keys")
app.add_typer(segments.app, name="segments")
app.add_typer(stores.app, name="stores")
app.add_typer(experiments.app, name="experiment")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(messaging.webhooks_app, name="webhooks")
app.add_typer(messaging.deliveries_app, name="deliveries")
app.add_typer(messaging.events_app, name="events")
app.add_typer(messages.app, name="messaging")
app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.command("openapi")(serve.openapi)
app.command("audit")(reports.audit)
app.command("summary")(reports.summary)
app.command("kpi")(analytics.kpi)
app.command("simulate")(simulate.simulate)
app.command("cohorts")(accounting.cohort_report)
app.command("liability")(accounting.liability_report)
app.command("journal")(accounting.journal_report)
app.command("charts")(accounting.chart_files)
app.command("demo")(demo.demo)
app.command("generate")(generate.generate)


def main() -> None:
    """The `loyalty` command: the commands above, with the database errors an operator can fix said plainly
    instead of a traceback."""
    try:
        app(prog_name="loyalty")
    except exc.DBAPIError as error:
        problem = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
        if "no such table" in problem or "UndefinedTable" in type(error.orig).__name__:
            terminal.err.print(
                f"The database has no tables, or not this version's ({problem}): run `loyalty db upgrade` first."
            )
            raise SystemExit(2) from None
        terminal.err.print(f"The database refused: {problem}")
        raise SystemExit(1) from None
