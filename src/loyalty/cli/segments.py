"""`loyalty segments`: recompute the rule segments, list the segments, import a static list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loyalty.cli.terminal import DatabaseOption, as_of, fail, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.storage.database import UnitOfWork, make_engine

app = typer.Typer(help="Segments: recompute, list, import static lists.", no_args_is_help=True)


@app.command("recompute")
def segments_recompute(
    as_of_option: Annotated[str | None, typer.Option("--as-of", help="Compute as of this date (default: now).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Recompute every rule segment's members as of a date (static segments stay as uploaded)."""
    from loyalty.segments import service as segments

    engine = make_engine(database)
    at = as_of(as_of_option, engine, now())
    try:
        counts = segments.recompute(engine, at)
    except LoyaltyError as error:
        fail(error)
    out.print(
        f"segments as of {at.isoformat()}: {counts['segments']} recomputed, {counts['members']} memberships"
        + (f", {counts['skipped']} changed meanwhile" if counts["skipped"] else "")
    )


@app.command("list")
def segments_list(database: DatabaseOption = None) -> None:
    """List the segments with their member counts."""
    from loyalty.segments import service as segments

    with UnitOfWork(make_engine(database), read_only=True) as uow:
        print_json(segments.list_segments(uow))


@app.command("import-static")
def segments_import_static(
    segment_id: Annotated[str, typer.Argument(help="The static segment's id (created if new).")],
    file: Annotated[Path, typer.Argument(help="CSV with a header of member_id, phone, email, card, external_id.")],
    name: Annotated[str | None, typer.Option(help="The segment's name (default: its id, or unchanged).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create or replace a static segment from a CSV of member references. All or nothing: every unknown
    reference is listed with its line and nothing is stored."""
    from loyalty.segments import lists as segment_lists
    from loyalty.segments import service as segments

    try:
        references = segment_lists.read_references(file)
        with UnitOfWork(make_engine(database)) as uow:
            segment = segments.import_static(uow, segment_id, name, references, now())
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    out.print(f"Segment {segment['segment_id']} ({segment['name']}): {segment['member_count']} members")
