"""The ceiling of `make bench-http`: the least a confirm over HTTP can cost with this stack. Not part of the product.

A bare FastAPI app with one endpoint, `POST /confirm`, that takes the product's confirm body and does the raw
confirm writes of bench.confirm.raw_confirm (the same SQL, through psycopg 3), served as `loyalty serve --workers N`
serves the product: uvicorn, N worker processes sharing one listening socket rewrapped as TCP by
loyalty.cli.serve._tcp_socket (so connections get TCP_NODELAY), access log off. What the product does on top — API
keys, validation of the order, the use case's generality, its larger response — is what the ratio of the two
measures.

    LOYALTY_CEILING_DATABASE_URL=postgresql+psycopg://... LOYALTY_CEILING_PROGRAM_VERSION=1 \
        python -m bench.ceiling --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import psycopg
import uvicorn
from fastapi import Body, FastAPI
from uvicorn.supervisors import Multiprocess

from bench.confirm import libpq_url, raw_confirm
from loyalty.cli.serve import _tcp_socket

DATABASE_VARIABLE = "LOYALTY_CEILING_DATABASE_URL"
VERSION_VARIABLE = "LOYALTY_CEILING_PROGRAM_VERSION"


class Connections:
    """A small pool: the connections of one worker process, opened when first needed and kept. The sync endpoint
    runs in uvicorn's thread pool, several requests at once, and a psycopg connection holds one transaction at a
    time, so each request borrows its own connection, as the product's SQLAlchemy pool lends one per request."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = psycopg.connect(self.conninfo)
        try:
            yield conn
        except BaseException:
            conn.close()  # raw_confirm rolled back, but a connection that failed is not worth keeping
            raise
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _State:
    connections: Connections | None = None
    program_version: int = 1


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Every worker process runs this: the URL and the program version come from the environment the bench set.
    _State.connections = Connections(libpq_url(os.environ[DATABASE_VARIABLE]))
    _State.program_version = int(os.environ.get(VERSION_VARIABLE, "1"))
    try:
        yield
    finally:
        _State.connections.close()


app = FastAPI(title="Loyalty bench ceiling", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/confirm")
def confirm(order: Annotated[dict[str, Any], Body()]) -> dict[str, str]:
    """The product's confirm body is already the order dict raw_confirm reads."""
    assert _State.connections is not None, "the lifespan opens the pool"
    with _State.connections.connection() as conn:
        raw_confirm(conn, order, _State.program_version)
    return {"order_id": order["order_id"], "status": "confirmed"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if DATABASE_VARIABLE not in os.environ:
        parser.error(f"set {DATABASE_VARIABLE} to the PostgreSQL database to write to")
    # As loyalty.cli.serve.serve serves the product: one worker binds its own (TCP) socket, several share one.
    target = "bench.ceiling:app"
    if args.workers == 1:
        uvicorn.run(target, host=args.host, port=args.port, access_log=False, log_level="warning")
        return
    config = uvicorn.Config(
        target, host=args.host, port=args.port, workers=args.workers, access_log=False, log_level="warning"
    )
    Multiprocess(config, sockets=[_tcp_socket(config)]).run()


if __name__ == "__main__":
    main()
