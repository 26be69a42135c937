"""Running the service: `loyalty db upgrade` (the schema), `loyalty serve` (the HTTP API) and `loyalty openapi`
(its document)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loyalty.cli.terminal import DatabaseOption, err, out
from loyalty.storage.database import database_url

if TYPE_CHECKING:
    import uvicorn

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create or migrate the schema to the latest version (before `loyalty serve`, after every upgrade of loyalty)."""
    from loyalty.storage.migrate import upgrade

    upgrade(database)
    out.print(f"Database is up to date: {database_url(database)}")


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")] = 1,
    database: DatabaseOption = None,
    background: Annotated[
        bool | None,
        typer.Option(
            "--background-worker/--no-background-worker",
            help="Also run the worker (deliveries, scheduled jobs) in this process. Default: on the embedded "
            "SQLite database; on PostgreSQL run `loyalty worker` beside the API instead.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API. The database must be at this version's schema: run `loyalty db upgrade` first."""
    import os
    import tempfile

    import uvicorn
    from rich.markup import escape
    from sqlalchemy.exc import SQLAlchemyError

    from loyalty.storage.migrate import SchemaOutdated, check_current

    url = database_url(database)
    try:
        check_current(url)
    except SchemaOutdated as error:
        err.print(f"[red]Not serving:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except SQLAlchemyError as error:
        err.print(f"[red]Not serving:[/red] cannot read the database: {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    if not os.environ.get("LOYALTY_SECRET_KEY"):
        err.print(
            "[yellow]Warning:[/yellow] LOYALTY_SECRET_KEY is not set: member tokens are signed with a secret kept in "
            "the database, so anyone who reads the database can forge them. Set it in production (README, "
            "'In production').",
            soft_wrap=True,
        )
    os.environ["LOYALTY_DATABASE_URL"] = url
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="loyalty-metrics-")
    err.print(f"Serving http://{host}:{port} on {url} with {workers} worker(s); docs at /docs")
    if background if background is not None else url.startswith("sqlite"):
        stop = _background_worker(url)
        err.print("Running the worker in the background (deliveries and scheduled jobs)")
    else:
        stop = None
    app = "loyalty.http.asgi:app"
    try:
        if workers == 1:  # asyncio binds the socket itself, as TCP: its connections get TCP_NODELAY
            uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
            return
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(app, host=host, port=port, workers=workers, access_log=False, log_level="warning")
        Multiprocess(config, sockets=[_tcp_socket(config)]).run()
    finally:
        if stop is not None:
            stop.set()


def _background_worker(url: str) -> threading.Event:
    """The worker in a thread of the serving process (the embedded default needs no second process)."""
    from loyalty.cli.terminal import now
    from loyalty.jobs.worker import Worker
    from loyalty.storage.database import make_engine

    stop = threading.Event()
    worker = Worker(make_engine(url), now)
    threading.Thread(target=worker.run, args=(stop,), name="loyalty-worker", daemon=True).start()
    return stop


def _tcp_socket(config: uvicorn.Config) -> socket.socket:
    """The listening socket the workers share, named as TCP. uvicorn's supervisor binds it without naming the
    protocol (`proto` 0), so asyncio never sets TCP_NODELAY on the connections it accepts, and a response written
    in two parts waits for the client's delayed ACK, about 40 ms, on every keep-alive request (uvicorn issue #3149).
    The same bound socket, rewrapped with IPPROTO_TCP, passes that on to every connection in every worker."""
    sock = config.bind_socket()
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return sock
    return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def openapi(output: Annotated[Path, typer.Option(help="Where to write the document.")] = Path("openapi.json")) -> None:
    """Write the OpenAPI document of the HTTP API."""
    from loyalty.http.app import openapi_document

    output.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    out.print(f"Wrote {output}")
