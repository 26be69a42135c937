"""`loyalty orders`: import purchase history (the generic CSV or the CDNOW sample)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from loyalty.checkout import imports
from loyalty.cli.terminal import DatabaseOption, fail, now, out, with_progress
from loyalty.core.errors import LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import make_engine

app = typer.Typer(help="Orders.", no_args_is_help=True)


@app.command("import")
def orders_import(
    file: Path,
    format: Annotated[str, typer.Option("--format", help="generic (CSV) or cdnow.")] = "generic",
    create_members: Annotated[bool, typer.Option(help="Register unknown members at their first order.")] = False,
    rate: Annotated[
        str, typer.Option(help="Multiply amounts by this rate (cdnow: dollars to the program currency).")
    ] = "1",
    redeem: Annotated[bool, typer.Option(help="Members pay with as many points as each order allows.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Import purchase history. All or nothing; a second import changes nothing."""
    at = now()
    engine = make_engine(database)
    try:
        if format == "cdnow":
            requests = imports.read_cdnow(file, at, Decimal(rate))
            progress, step = with_progress(len(requests), "orders")
            with progress:
                summary = imports.import_orders(engine, requests, at, create_members=True, redeem=redeem, progress=step)
        elif format == "generic":
            progress, step = with_progress(None, "orders")
            with progress:
                summary = imports.import_order_file(
                    engine,
                    file,
                    at,
                    programs.lazy_time_zone(engine, at),
                    create_members=create_members,
                    redeem=redeem,
                    progress=step,
                )
        else:
            raise typer.BadParameter("must be generic or cdnow", param_hint="--format")
    except LoyaltyError as error:
        fail(error)
    out.print(
        f"Orders: {summary.created} imported, {summary.unchanged} already there"
        + (f", {summary.details['members_created']} members registered" if summary.details else "")
        + (f" (confirmed one by one: {summary.reason})" if summary.reason else "")
    )
