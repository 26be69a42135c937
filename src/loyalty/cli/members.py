"""`loyalty members`: import members from a CSV."""

from __future__ import annotations

from pathlib import Path

import typer

from loyalty.checkout import imports
from loyalty.cli.terminal import DatabaseOption, fail, now, out, with_progress
from loyalty.core.errors import LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import make_engine

app = typer.Typer(help="Members.", no_args_is_help=True)


@app.command("import")
def members_import(file: Path, database: DatabaseOption = None) -> None:
    """Import members from a CSV (columns: see README). All or nothing; a second import changes nothing."""
    at, engine = now(), make_engine(database)
    try:
        rows = imports.read_members(file, at, programs.lazy_time_zone(engine, at))
        progress, step = with_progress(len(rows), "members")
        with progress:
            summary = imports.import_members(engine, file, at, step)
    except LoyaltyError as error:
        fail(error)
    out.print(f"Members: {summary.created} created, {summary.unchanged} already there")
