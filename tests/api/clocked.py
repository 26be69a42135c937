"""A real server whose clock is fixed at NOW, for tests whose meaning depends on today's date."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import uvicorn
from sqlalchemy import Engine

from loyalty.api.app import create_app
from loyalty.services import access
from loyalty.storage.database import UnitOfWork

from .conftest import Server, free_port

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # the fixed clock of tests/conftest.py


@contextmanager
def clocked_server(engine: Engine) -> Iterator[Server]:
    """The `server` fixture's server, with `create_app(engine, clock=...)` fixed at NOW."""
    with UnitOfWork(engine) as uow:
        keys = [access.create_key(uow, scope, scope, NOW)[1] for scope in ("admin", "checkout", "analytics")]
        uow.commit()
    port = free_port()
    app = create_app(engine, clock=lambda: NOW)
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", engine, *keys)
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
