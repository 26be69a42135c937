"""`loyalty campaigns`: apply a file of campaigns and personal offers, list them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loyalty.cli.terminal import DatabaseOption, fail, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

app = typer.Typer(help="Campaigns and personal offers: apply a file, list.", no_args_is_help=True)


@app.command("apply")
def campaigns_apply(
    file: Annotated[Path, typer.Argument(help="YAML or JSON with `campaigns:` and/or `offers:` lists.")],
    database: DatabaseOption = None,
) -> None:
    """Create or change the campaigns and offers a file defines, all or nothing; every problem is listed with its
    place in the file. A changed definition becomes a new revision; an unchanged one is left as it is."""
    from loyalty.campaigns import service as campaigns

    try:
        document = programs.read_document_file(file)
        with UnitOfWork(make_engine(database)) as uow:
            outcome = campaigns.apply(uow, document, now())
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    for what, ids in outcome.items():
        out.print(f"{what}: {', '.join(ids) if ids else '-'}")


@app.command("list")
def campaigns_list(
    offers: Annotated[bool, typer.Option("--offers", help="List the personal offers instead.")] = False,
    database: DatabaseOption = None,
) -> None:
    """List the campaigns (or offers) with their revision, points given and budget left."""
    from loyalty.campaigns import service as campaigns

    with UnitOfWork(make_engine(database), read_only=True) as uow:
        print_json(campaigns.list_campaigns(uow, personal=offers))
