"""`loyalty program`: validate, publish and list program versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loyalty.campaigns import publishing
from loyalty.cli.terminal import DatabaseOption, fail, instant, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

app = typer.Typer(help="Program versions: validate and publish documents.", no_args_is_help=True)


@app.command("validate")
def program_validate(file: Path) -> None:
    """Check a program document (YAML or JSON); list every problem with its field path."""
    try:
        program = publishing.program_of(programs.read_document_file(file))
    except LoyaltyError as error:
        fail(error)
    out.print(
        f"Valid: {program.name} ({len(program.earning.rules)} earning rules, {len(program.actions)} action bonuses)"
    )
    for name in sorted(program.actions):
        bonus = program.actions[name]
        out.print(f"  action {name}: {bonus.points} points, {bonus.cap_text()}", highlight=False, soft_wrap=True)


@app.command("schema")
def program_schema(
    document: Annotated[
        str, typer.Option(help=f"Which document: {' or '.join(publishing.DOCUMENT_SCHEMAS)}.")
    ] = "program",
) -> None:
    """Print the JSON Schema of the program document (or of a campaign definition), for an editor to check and
    complete a document as it is written."""
    try:
        schema = publishing.document_schema(document)
    except LoyaltyError as error:
        fail(error)
    typer.echo(json.dumps(schema, indent=2, ensure_ascii=False))  # exactly JSON, to be saved to a file


@app.command("publish")
def program_publish(
    file: Path,
    effective_from: Annotated[
        str | None,
        typer.Option(
            help="When the version takes effect (default: now): a date is the start of that day in the program's "
            "time zone; a date-time needs its offset."
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Publish a document as a new immutable program version."""
    at = now()
    try:
        document = programs.read_document_file(file)
        zone = publishing.program_of(document).timezone
        start = instant(effective_from, "--effective-from", zone, day="start") if effective_from else at
        with UnitOfWork(make_engine(database)) as uow:
            version = publishing.publish(uow, document, start, at)
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    out.print(f"Published version {version.number}, in force from {version.effective_from.isoformat()}")


@app.command("list")
def program_list(database: DatabaseOption = None) -> None:
    """List the published versions."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        print_json(programs.list_versions(uow))
