"""The database going away, as a client sees it and as the operator's log shows it. PostgreSQL is reached through a
proxy each test controls (the shared server never stops): cut, every route answers 503 problem+json with
Retry-After, `/readyz` says not ready without the driver's words, and the log carries one traceback per interval
however many requests fail. A connection lost while a COMMIT was on its way is "outcome unknown", and a retry
with the same order id or Idempotency-Key records the change exactly once. A lock held elsewhere fails a checkout
within the lock time-out instead of hanging it (LOYALTY_DB_LOCK_TIMEOUT_MS, LOYALTY_DB_STATEMENT_TIMEOUT_MS)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from loyalty.access import service as access
from loyalty.http.app import create_app
from loyalty.http.errors import OutageLog
from loyalty.members import service as members
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine

from .conftest import NOW, SEED_PROGRAM, Clock, serve
from .tcp_proxy import Proxy

PROBLEM = "application/problem+json"
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


class Records(logging.Handler):
    """The records of a logger, kept for the test (the app's loggers may not propagate to the root)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(name)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Records:
        self.logger.addHandler(self)
        self.level_before = self.logger.level
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *_: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level_before)

    def tracebacks(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.exc_info]


class Ticks:
    """A clock for the outage log that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Live:
    url: str
    proxy: Proxy
    engine: Engine  # direct, not through the proxy
    admin: str
    checkout: str
    ticks: Ticks

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def keys(engine: Engine) -> list[str]:
    with UnitOfWork(engine) as uow:
        created = [access.create_key(uow, scope, scope, NOW)[1] for scope in ("admin", "checkout")]
        uow.commit()
    return created


@pytest.fixture
def live(database_url: str, engine: Engine, clock: Clock) -> Iterator[Live]:
    """The app on PostgreSQL through a proxy, with the seed program, a checkout and an admin key."""
    url = make_url(database_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    admin, checkout = keys(engine)
    app = create_app(proxied, clock)
    ticks = Ticks()
    app.state.outages = OutageLog(interval=30, clock=ticks)
    with serve(app) as base:
        result = Live(base, proxy, engine, admin, checkout, ticks)
        with result.client(admin) as client:
            body = {"document": SEED_PROGRAM, "effective_from": "2020-01-01T00:00:00+00:00"}
            assert client.post("/v1/program/versions", json=body).status_code == 201
        yield result
    proxy.close()
    proxied.dispose()


def order(order_id: str, member_id: int) -> dict[str, Any]:
    return {"order_id": order_id, "member": {"member_id": member_id}, "lines": [{"sku": "coat", "price": "2000.00"}]}


def unavailable(response: httpx.Response, kind: str) -> str | None:
    """What is wrong with an answer that should be 503 `kind` with Retry-After, or None."""
    if response.status_code != 503 or not response.headers.get("content-type", "").startswith(PROBLEM):
        return f"{response.status_code} {response.text[:200]}"
    if not response.headers.get("retry-after", "").isdigit():
        return f"Retry-After {response.headers.get('retry-after')!r}"
    body = response.json()
    return None if body["type"].endswith("/" + kind) else f"type {body['type']}"


@POSTGRES_ONLY
def test_an_outage_answers_503_and_is_logged_once_per_interval(live: Live) -> None:
    with live.client(live.checkout) as shop, live.client(live.admin) as admin:
        member = shop.post("/v1/members", json={"card": "C-1"}).json()["member_id"]
        assert shop.post("/v1/orders/confirm", json=order("before", member)).status_code == 200
        live.proxy.cut()
        requests = [
            lambda: shop.post("/v1/orders/confirm", json=order("during", member)),
            lambda: shop.get(f"/v1/members/{member}/balance"),
            lambda: shop.post("/v1/members", json={"card": "C-2"}),
            lambda: admin.post(f"/v1/members/{member}/adjustments", json={"points": 5, "operator": "o", "reason": "r"}),
            lambda: admin.post("/v1/jobs/expire"),
        ]
        with Records("loyalty.api") as api_log, Records("uvicorn.error") as server_log:
            failures = [problem for send in requests * 4 if (problem := unavailable(send(), "database-unavailable"))]
            assert not failures, failures
            ready = shop.get("/readyz")
            assert unavailable(ready, "not-ready") is None
            assert ready.json().keys() == {"type", "title", "status", "request_id"}  # no driver text
            assert len(api_log.tracebacks()) == 1, [r.getMessage() for r in api_log.records]
            assert not server_log.tracebacks()
            live.ticks.now += 31  # the next interval: one more line, counting those left out
            assert unavailable(shop.get(f"/v1/members/{member}/balance"), "database-unavailable") is None
            assert [r.fields["suppressed"] for r in api_log.tracebacks()] == [0, 20]  # type: ignore[attr-defined]
        # A key the server has not seen yet cannot be checked either: 503, not 401.
        stranger = live.client(keys(live.engine)[1])
        assert unavailable(stranger.get(f"/v1/members/{member}/balance"), "database-unavailable") is None
        live.proxy.restore()
        assert shop.get("/readyz").status_code == 200
        assert shop.post("/v1/orders/confirm", json=order("after", member)).status_code == 200
        assert stranger.get(f"/v1/members/{member}/balance").status_code == 200
        stranger.close()


def recorded(engine: Engine, order_key: str) -> tuple[int, int]:
    """The order's rows and its earn entries."""
    with UnitOfWork(engine, read_only=True) as uow:
        orders = uow.conn.execute(select(func.count()).where(t.orders.c.order_key == order_key)).scalar_one()
        earned = uow.conn.execute(
            select(func.count()).where(t.ledger_entries.c.order_key == order_key, t.ledger_entries.c.kind == "earn")
        ).scalar_one()
    return int(orders), int(earned)


@POSTGRES_ONLY
@pytest.mark.parametrize("trap", ["drop", "lose"])
def test_a_commit_cut_short_is_outcome_unknown_and_its_retry_records_it_once(live: Live, trap: str) -> None:
    """`drop`: the COMMIT never reaches the server; `lose`: the server commits, its answer never comes back."""
    with live.client(live.checkout) as shop, live.client(live.admin) as admin:
        member = shop.post("/v1/members", json={"card": "C-1"}).json()["member_id"]
        live.proxy.set_trap(trap)
        cut = shop.post("/v1/orders/confirm", json=order("A-1", member))
        assert live.proxy.sprung.is_set()
        assert unavailable(cut, "outcome-unknown") is None
        assert "not known" in cut.json()["detail"] and "same order" in cut.json()["detail"]
        assert recorded(live.engine, "A-1") == ((1, 1) if trap == "lose" else (0, 0))
        retried = shop.post("/v1/orders/confirm", json=order("A-1", member))
        assert retried.status_code == 200, retried.text
        assert recorded(live.engine, "A-1") == (1, 1)
        assert shop.get(f"/v1/members/{member}/balance").json()["pending"] == retried.json()["points_to_earn"] == 100

        # The same with an Idempotency-Key: the retry is the first request's replay, or the first time it is done.
        before = shop.get(f"/v1/members/{member}/balance").json()["balance"]
        adjustment, key = {"points": 7, "operator": "ops", "reason": "goodwill"}, {"Idempotency-Key": "adjust-1"}
        live.proxy.set_trap(trap)
        cut = admin.post(f"/v1/members/{member}/adjustments", json=adjustment, headers=key)
        assert unavailable(cut, "outcome-unknown") is None
        retried = admin.post(f"/v1/members/{member}/adjustments", json=adjustment, headers=key)
        assert retried.status_code == 201, retried.text
        assert ("idempotent-replayed" in retried.headers) == (trap == "lose")
        assert shop.get(f"/v1/members/{member}/balance").json()["balance"] == before + 7


@pytest.fixture
def locked_member(engine: Engine) -> Iterator[tuple[int, Any]]:
    """A member of the seed program, and a way to hold their account's row lock from another connection."""
    with UnitOfWork(engine) as uow:
        programs.publish(uow, programs.read_document_json(SEED_PROGRAM), datetime(2020, 1, 1, tzinfo=UTC), NOW)
        member_id = members.register(uow, members.parse_member({"card": "C-1"}), NOW)
        uow.commit()
    holder = engine.connect()

    def hold() -> None:
        holder.execute(text("SELECT 1 FROM accounts WHERE account_id = :id FOR UPDATE"), {"id": member_id})

    yield member_id, hold
    holder.rollback()
    holder.close()


@POSTGRES_ONLY
@pytest.mark.parametrize(
    "settings",
    [
        {"LOYALTY_DB_LOCK_TIMEOUT_MS": "200"},
        {"LOYALTY_DB_LOCK_TIMEOUT_MS": "0", "LOYALTY_DB_STATEMENT_TIMEOUT_MS": "300"},
    ],
    ids=["lock-timeout", "statement-timeout"],
)
def test_a_held_lock_fails_a_checkout_fast_with_503(
    database_url: str,
    engine: Engine,
    clock: Clock,
    locked_member: tuple[int, Any],
    settings: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    bounded = make_engine(database_url)
    checkout = keys(engine)[1]
    member_id, hold = locked_member
    with (
        serve(create_app(bounded, clock)) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {checkout}"}, timeout=20) as shop,
    ):
        hold()  # another transaction holds the member's account, and does not let go
        busy = shop.post("/v1/orders/confirm", json=order("A-1", member_id))
        assert unavailable(busy, "busy") is None
        assert busy.headers["retry-after"] == "1"
        assert "busy" in busy.json()["detail"] and "nothing was changed" in busy.json()["detail"]
        assert recorded(engine, "A-1") == (0, 0)
    bounded.dispose()


def test_sqlite_that_cannot_be_opened_answers_503(tmp_path: Path, clock: Clock) -> None:
    missing = make_engine(f"sqlite:///{tmp_path / 'no-such-directory' / 'loyalty.db'}")
    app = create_app(missing, clock)
    with (
        serve(app) as base,
        httpx.Client(base_url=base, headers={"Authorization": "Bearer lk_1_x"}) as client,
        Records("loyalty.api") as log,
    ):
        assert unavailable(client.get("/readyz"), "not-ready") is None
        assert unavailable(client.get("/v1/members/1/balance"), "database-unavailable") is None
        assert unavailable(client.post("/v1/members", json={"card": "C"}), "database-unavailable") is None
        assert "unable to open" not in client.get("/readyz").text
        assert len(log.tracebacks()) == 1
    missing.dispose()
