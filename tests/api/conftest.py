"""A real uvicorn server on a free port, on SQLite and PostgreSQL, with an admin and a checkout key."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from loyalty.api.app import create_app
from loyalty.services import access
from loyalty.storage.database import UnitOfWork

SEED_PROGRAM = {
    "name": "Seed program",
    "currency": "RUB",
    "timezone": "Europe/Moscow",
    "earning": {
        "pending_days": 14,
        "rules": [{"id": "base", "name": "5% cashback", "percent": 5}],
        "excluded_categories": ["delivery", "gift_card"],
    },
    "redemption": {"min_check": "1000", "max_share_percent": 99, "earn_or_spend": True},
    "expiry": {"after_days": 365},
    "actions": {"registration": {"points": 500}, "review": {"points": 50, "cap": {"count": 2, "per": "month"}}},
}


@dataclass
class Server:
    url: str
    engine: Engine
    admin: str
    checkout: str
    analytics: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(engine: Engine) -> Iterator[Server]:
    now = datetime.now(UTC)
    with UnitOfWork(engine) as uow:
        keys = [access.create_key(uow, scope, scope, now)[1] for scope in ("admin", "checkout", "analytics")]
        uow.commit()
    port = free_port()
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    yield Server(f"http://127.0.0.1:{port}", engine, *keys)
    runner.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def admin(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.admin) as client:
        yield client


@pytest.fixture
def shop(server: Server, admin: httpx.Client) -> Iterator[httpx.Client]:
    """A checkout client on a server with the seed program in force since 2026-01-01."""
    response = admin.post(
        "/v1/program/versions", json={"document": SEED_PROGRAM, "effective_from": "2026-01-01T00:00:00+03:00"}
    )
    assert response.status_code == 201, response.text
    with server.client(server.checkout) as client:
        yield client
