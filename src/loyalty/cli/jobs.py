"""`loyalty jobs`: list the scheduled jobs and run one as of a date (the registry in `loyalty.jobs.registry`, which
the HTTP API's `POST /v1/jobs/<name>` runs too)."""

from __future__ import annotations

from typing import Annotated

import typer

from loyalty.cli.terminal import DatabaseOption, as_of, fail, now, out
from loyalty.core.errors import LoyaltyError
from loyalty.storage.database import UnitOfWork, make_engine

app = typer.Typer(help="Batch jobs.", no_args_is_help=True)


@app.command("run")
def jobs_run(
    job: Annotated[
        str,
        typer.Argument(help="The job's name: `loyalty jobs list` names each and says what it does."),
    ],
    as_of_option: Annotated[str | None, typer.Option("--as-of", help="Run as of this date (default: now).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Run a batch job as of a date."""
    from loyalty.jobs.registry import JOBS  # here, not at the top: it imports every area that has a job

    if job not in JOBS:
        raise typer.BadParameter(f"must be one of {', '.join(JOBS)}", param_hint="JOB")
    from loyalty.jobs import runs

    at, engine = now(), make_engine(database)
    start = as_of(as_of_option, engine, at)
    try:
        result = runs.run_now(engine, job, start, now, "cli")
    except LoyaltyError as error:
        fail(error)
    out.print(f"{job} as of {start.isoformat()}: {JOBS[job].report(result)}")


@app.command("list")
def jobs_list() -> None:
    """List the jobs: what each does and what it counts."""
    from loyalty.jobs.registry import JOBS

    for name, job in JOBS.items():
        counts = ", ".join(count.name for count in job.counts)
        out.print(f"{name:<10} {job.does} (counts: {counts})", highlight=False, soft_wrap=True)


@app.command("runs")
def jobs_runs(
    job: Annotated[str | None, typer.Option(help="Only this job's runs.")] = None,
    status: Annotated[str | None, typer.Option(help="running | succeeded | failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    database: DatabaseOption = None,
) -> None:
    """The latest job runs: by the worker's schedule, the API or this command; as of when, what each did."""
    from loyalty.jobs import runs

    with UnitOfWork(make_engine(database), read_only=True) as uow:
        found = runs.runs(uow, job=job, status=status, limit=limit)
    for run in found:
        outcome = run["error"] or ", ".join(f"{k} {v}" for k, v in (run["counts"] or {}).items())
        by = run["trigger"] + (f" ({run['worker']})" if run["worker"] else "")
        out.print(
            f"{run['run_id']:>6} {run['job']:<16} as of {run['as_of']} by {by}: {run['status']}"
            f" ({run['started_at']} - {run['finished_at'] or '...'}) {outcome}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("schedule")
def jobs_schedule(
    job: Annotated[str | None, typer.Argument(help="The job to schedule (none: show every schedule).")] = None,
    when: Annotated[
        str | None, typer.Argument(help="`daily HH:MM` (the program's time zone), `every 15m`, `every 2h` or `off`.")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Show the worker's schedule, or change one job's."""
    from loyalty.jobs import runs

    engine = make_engine(database)
    if job is None:
        with UnitOfWork(engine, read_only=True) as uow:
            current = runs.read_schedule(uow)
    else:
        if when is None:
            raise typer.BadParameter('give the schedule too, e.g. "daily 03:00"', param_hint="WHEN")
        try:
            with UnitOfWork(engine) as uow:
                current = runs.set_schedule(uow, {job: when})
                uow.commit()
        except LoyaltyError as error:
            fail(error)
    for name, text in current.items():
        out.print(f"{name:<16} {text}", highlight=False)
