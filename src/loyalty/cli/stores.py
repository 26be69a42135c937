"""`loyalty stores`: import the stores registry from CSV, list it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from loyalty.cli.terminal import DatabaseOption, fail, now, out
from loyalty.core.errors import LoyaltyError
from loyalty.storage.database import UnitOfWork, make_engine
from loyalty.stores import service as stores

app = typer.Typer(help="Stores: the city of each store, for split tests by city.", no_args_is_help=True)


@app.command("import")
def stores_import(
    file: Annotated[Path, typer.Argument(help="CSV of store_id,city,name lines (a header line is skipped).")],
    database: DatabaseOption = None,
) -> None:
    """Create or change the stores of a CSV file. All or nothing: every bad line is listed and nothing is stored."""
    try:
        read = stores.read_file(file)
        with UnitOfWork(make_engine(database)) as uow:
            counts = stores.import_stores(uow, read, now())
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    out.print(f"Imported {counts['stores']} stores: {counts['created']} new, {counts['updated']} already known")


@app.command("list")
def stores_list(database: DatabaseOption = None) -> None:
    """Every store with its city."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        rows = stores.list_stores(uow)
    table = Table("store", "city", "name", title=f"{len(rows)} stores")
    for row in rows:
        table.add_row(row["store_id"], row["city"], row["name"] or "")
    out.print(table)
