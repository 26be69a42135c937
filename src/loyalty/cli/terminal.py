"""What every command shares: the two consoles, the `--database` option, reading an instant given on the command
line, and how a refused use case is reported (exit code 2, every problem listed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine

from loyalty.checkout import imports
from loyalty.core.errors import InvalidInput, LoyaltyError
from loyalty.core.instants import Zone, parse_instant
from loyalty.program import service as programs

out = Console()
err = Console(stderr=True)
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="Database URL (default: $LOYALTY_DATABASE_URL, else sqlite:///loyalty.db)."),
]


def now() -> datetime:
    """The wall clock: commands are where the time comes in; use cases are given it."""
    return datetime.now(UTC)


def instant(value: str, name: str, zone: Zone, day: Literal["start", "end"] = "end") -> datetime:
    """An instant from the command line, read as the API reads it (a bare date is a day in `zone`)."""
    try:
        return parse_instant(value, name, zone=zone, day=day)
    except InvalidInput as error:
        raise typer.BadParameter(error.problems[0].reason, param_hint=name) from None


def as_of(value: str | None, engine: Engine, at: datetime) -> datetime:
    """The `--as-of` option: `at` when not given, else a bare date is the end of that day in the program's zone."""
    return instant(value, "--as-of", programs.lazy_time_zone(engine, at)) if value else at


def fail(error: LoyaltyError) -> NoReturn:
    if isinstance(error, imports.ImportRejected):
        err.print(f"[red]Rejected:[/red] {error}")
        for line_error in error.errors:
            err.print(f"  {line_error}")
    elif isinstance(error, InvalidInput):
        err.print("[red]Invalid:[/red]")
        for problem in error.problems:
            err.print(f"  {problem}")
    else:
        err.print(f"[red]{type(error).__name__}:[/red] {error}")
    raise typer.Exit(2)


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def with_progress(total: int | None, label: str) -> tuple[Progress, Callable[[int], None]]:
    """A progress bar on stderr and the function that advances it by a number of rows (None: a count unknown
    beforehand, of a file read as it is imported)."""
    progress = Progress(console=err, transient=False)
    task = progress.add_task(label, total=total)
    return progress, lambda n: progress.advance(task, n)
