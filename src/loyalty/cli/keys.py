"""`loyalty keys`: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from loyalty.cli.terminal import DatabaseOption, err, fail, now, out, print_json
from loyalty.core.errors import LoyaltyError
from loyalty.storage.database import UnitOfWork, make_engine

app = typer.Typer(help="API keys.", no_args_is_help=True)


@app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who uses the key, e.g. web-checkout.")],
    scope: Annotated[str, typer.Option(help="checkout, admin or analytics.")],
    database: DatabaseOption = None,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    from loyalty.access import service as access
    from loyalty.storage.migrate import upgrade

    upgrade(database)
    try:
        with UnitOfWork(make_engine(database)) as uow:
            key, secret = access.create_key(uow, name, scope, now())
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    err.print(f"Created key {key.key_id} ({key.name}, scope {key.scope}). Store it now; it is not shown again:")
    print(secret)


@app.command("list")
def keys_list(database: DatabaseOption = None) -> None:
    """List API keys (never their secrets)."""
    from loyalty.access import service as access

    with UnitOfWork(make_engine(database), read_only=True) as uow:
        print_json(access.list_keys(uow))


@app.command("revoke")
def keys_revoke(key_id: str, database: DatabaseOption = None) -> None:
    """Revoke an API key by its id."""
    from loyalty.access import service as access

    with UnitOfWork(make_engine(database)) as uow:
        revoked = access.revoke_key(uow, key_id, now())
        uow.commit()
    if not revoked:
        err.print(f"No active key {key_id}")
        raise typer.Exit(2)
    out.print(f"Revoked {key_id}")
