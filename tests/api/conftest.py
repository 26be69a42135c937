"""A real uvicorn server on a free port, on SQLite and PostgreSQL, with an admin and a checkout key."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from loyalty.access import service as access
from loyalty.http.app import create_app
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


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Clock:
    """A server's injected clock: fixed until the test moves it, so no test depends on the day it runs."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> datetime:
        self.at += delta
        return self.at


@dataclass
class Server:
    url: str
    engine: Engine
    clock: Clock
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


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def clock() -> Clock:
    """The server's clock: 2026-11-20 12:00 UTC, in force under the seed program, until a test moves it."""
    return Clock()


def _running(engine: Engine, clock: Clock) -> Iterator[Server]:
    with UnitOfWork(engine) as uow:
        keys = [access.create_key(uow, scope, scope, clock())[1] for scope in ("admin", "checkout", "analytics")]
        uow.commit()
    with serve(create_app(engine, clock)) as url:
        yield Server(url, engine, clock, *keys)


@pytest.fixture
def server(engine: Engine, clock: Clock) -> Iterator[Server]:
    yield from _running(engine, clock)


NOVEMBER_1 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def november_server(engine: Engine) -> Iterator[Server]:
    """A server whose clock starts at NOVEMBER_1 (2026-11-01 12:00 UTC), for the tests that count from the start of
    the month rather than from NOW."""
    yield from _running(engine, Clock(NOVEMBER_1))


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


# Helpers for the HTTP integration tests (test_auth, test_idempotency, test_checkout_api, test_bad_input,
# test_concurrency_api).

COUNTED_TABLES = (
    "members",
    "member_identifiers",
    "consents",
    "accounts",
    "ledger_entries",
    "lots",
    "lot_draws",
    "orders",
    "order_lines",
    "returns",
    "action_events",
    "idempotency_keys",
    "program_versions",
)


def table_counts(engine: Engine) -> dict[str, int]:
    """How many rows each table holds: compared before and after a request that must write nothing."""
    from sqlalchemy import func, select

    from loyalty.storage import tables as t

    with UnitOfWork(engine, read_only=True) as uow:
        return {
            name: int(uow.conn.execute(select(func.count()).select_from(getattr(t, name))).scalar_one())
            for name in COUNTED_TABLES
        }


def state_snapshot(engine: Engine) -> dict[str, Any]:
    """Row counts plus every account's balance and every order's status: equal snapshots mean nothing changed."""
    from sqlalchemy import select

    from loyalty.storage import tables as t

    with UnitOfWork(engine, read_only=True) as uow:
        accounts = sorted(tuple(r) for r in uow.conn.execute(select(t.accounts)))
        orders = sorted(tuple(r) for r in uow.conn.execute(select(t.orders.c.order_key, t.orders.c.status)))
        members = sorted(
            tuple(r) for r in uow.conn.execute(select(t.members.c.member_id, t.members.c.name, t.members.c.gender))
        )
    return {"counts": table_counts(engine), "accounts": accounts, "orders": orders, "members": members}


@dataclass
class Api:
    """Short ways to build state over HTTP with the seed program."""

    server: Server
    shop: httpx.Client
    admin: httpx.Client

    def register(self, **fields: Any) -> int:
        response = self.shop.post("/v1/members", json=fields)
        assert response.status_code == 201, response.text
        return int(response.json()["member_id"])

    def give(self, member_id: int, points: int, reason: str = "test top-up") -> None:
        """Spendable points at once, by a manual adjustment."""
        response = self.admin.post(
            f"/v1/members/{member_id}/adjustments", json={"points": points, "operator": "tests", "reason": reason}
        )
        assert response.status_code == 201, response.text

    def balance(self, member_id: int) -> dict[str, Any]:
        response = self.shop.get(f"/v1/members/{member_id}/balance")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def confirm(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.shop.post("/v1/orders/confirm", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def order_body(
    order_id: str,
    member_id: int | None,
    *lines: tuple[str, int, str],
    points: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """An order of (line_id, quantity, unit price) lines for a member (or a non-member when None)."""
    body: dict[str, Any] = {
        "order_id": order_id,
        "points": points,
        "lines": [
            {"line_id": line_id, "sku": f"sku-{line_id}", "category": "clothes", "quantity": quantity, "price": price}
            for line_id, quantity, price in lines
        ],
        **extra,
    }
    if member_id is not None:
        body["member"] = {"member_id": member_id}
    return body


@pytest.fixture
def api(server: Server, shop: httpx.Client, admin: httpx.Client) -> Api:
    return Api(server, shop, admin)
