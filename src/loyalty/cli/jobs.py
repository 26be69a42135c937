"""`loyalty jobs`: list the scheduled jobs and run one as of a date (the registry in `loyalty.jobs.registry`, which
the HTTP API's `POST /v1/jobs/<name>` runs too)."""

from __future__ import annotations

from typing import Annotated

import typer

from loyalty.cli.terminal import DatabaseOption, as_of, fail, now, out
from loyalty.core.errors import LoyaltyError
from loyalty.storage.database import make_engine

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
    at, engine = now(), make_engine(database)
    start = as_of(as_of_option, engine, at)
    try:
        result = JOBS[job].run(engine, start, at)
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
