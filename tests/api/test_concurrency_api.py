"""Concurrent requests over HTTP against one real server: many orders spending one balance never overdraw it,
and many copies of one order record it once.

Each request runs on its own thread with its own connection; a barrier releases them together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

from .conftest import Api, Server, order_body, table_counts


def run_together(server: Server, key: str, requests: list[Callable[[httpx.Client], httpx.Response]]) -> list[Any]:
    """Send every request at once, each from its own client; (status, body) of each, in order."""
    barrier = threading.Barrier(len(requests))

    def send(request: Callable[[httpx.Client], httpx.Response]) -> tuple[int, Any]:
        with server.client(key) as client:
            client.get("/healthz")  # open the connection before the start
            barrier.wait(timeout=60)
            response = request(client)
            return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def _ledger_points(server: Server, member_id: int, **where: str) -> list[int]:
    with UnitOfWork(server.engine, read_only=True) as uow:
        query = select(t.ledger_entries.c.points).where(t.ledger_entries.c.account_id == member_id)
        for column, value in where.items():
            query = query.where(getattr(t.ledger_entries.c, column) == value)
        return [int(p) for p in uow.conn.execute(query).scalars()]


@pytest.mark.usefixtures("shop")
def test_fifty_orders_spending_one_balance_never_overdraw_it(server: Server, api: Api) -> None:
    member_id = api.register(phone="+79124000001")
    api.give(member_id, 500)  # 1,000 spendable points in two lots
    spend = 70  # 14 orders fit, the 15th finds 20 points

    def confirm(n: int) -> Callable[[httpx.Client], httpx.Response]:
        body = order_body(f"C-{n}", member_id, ("1", 1, "2000.00"), points=spend)
        return lambda client: client.post("/v1/orders/confirm", json=body)

    results = run_together(server, server.checkout, [confirm(n) for n in range(50)])
    statuses = [status for status, _ in results]
    assert all(status < 500 for status in statuses), statuses
    succeeded = [body for status, body in results if status == 200]
    refused = [body for status, body in results if status == 422]
    assert len(succeeded) + len(refused) == 50, statuses
    assert all(body["type"].endswith("/insufficient-points") for body in refused)
    assert all(e["path"] == "points" for body in refused for e in body["errors"])
    assert all(body["points_applied"] == spend for body in succeeded)
    assert len(succeeded) == 1000 // spend  # serialised: each spend succeeds while 70 points are left
    spent = -sum(_ledger_points(server, member_id, kind="spend"))
    assert spent == spend * len(succeeded) <= 1000
    balance = api.balance(member_id)
    assert (balance["balance"], balance["available"]) == (1000 - spent, 1000 - spent)
    counts = table_counts(server.engine)
    assert counts["orders"] == len(succeeded)
    audit = api.admin.get("/v1/audit")
    assert audit.status_code == 200
    assert audit.json()["ok"] is True, audit.json()["violations"]


def test_reservations_and_confirms_racing_for_one_balance(server: Server, api: Api) -> None:
    """Reservations hold points against concurrent confirms: the holds and the spends together fit the balance."""
    member_id = api.register(phone="+79124000002")

    def request(n: int) -> Callable[[httpx.Client], httpx.Response]:
        body = order_body(f"RC-{n}", member_id, ("1", 1, "2000.00"), points=40)
        if n % 2:
            return lambda client: client.post("/v1/orders/reserve", json={**body, "hold_seconds": 600})
        return lambda client: client.post("/v1/orders/confirm", json=body)

    results = run_together(server, server.checkout, [request(n) for n in range(30)])
    assert all(status in (200, 422) for status, _ in results), [s for s, _ in results]
    done = sum(1 for status, _ in results if status == 200)
    assert done == 500 // 40
    balance = api.balance(member_id)
    spent = -sum(_ledger_points(server, member_id, kind="spend"))
    assert spent + balance["held"] == 40 * done
    assert balance["available"] == 500 - 40 * done
    assert api.admin.get("/v1/audit").json()["ok"] is True


def test_twenty_identical_confirms_record_one_order(server: Server, api: Api) -> None:
    member_id = api.register(phone="+79124000003")
    body = order_body("SAME-1", member_id, ("1", 1, "10000.00"), ("2", 2, "250.00"))
    results = run_together(server, server.checkout, [lambda client: client.post("/v1/orders/confirm", json=body)] * 20)
    assert [status for status, _ in results] == [200] * 20, results
    first = results[0][1]
    assert all(result == first for _, result in results)
    assert first["points_to_earn"] == 525
    with UnitOfWork(server.engine, read_only=True) as uow:
        orders = uow.conn.execute(
            select(func.count()).select_from(t.orders).where(t.orders.c.order_key == "SAME-1")
        ).scalar_one()
        lines = uow.conn.execute(
            select(func.count()).select_from(t.order_lines).where(t.order_lines.c.order_key == "SAME-1")
        ).scalar_one()
    assert (orders, lines) == (1, 2)
    assert _ledger_points(server, member_id, order_key="SAME-1") == [525]  # earned once
    assert api.balance(member_id)["balance"] == 1025
    assert api.admin.get("/v1/audit").json()["ok"] is True


@pytest.mark.usefixtures("api")
def test_twenty_identical_confirms_of_a_non_members_order_record_one_order(server: Server) -> None:
    """No account lock serialises these: the order id alone must."""
    body = order_body("GUEST-1", None, ("1", 3, "999.99"))
    results = run_together(server, server.checkout, [lambda client: client.post("/v1/orders/confirm", json=body)] * 20)
    assert [status for status, _ in results] == [200] * 20, results
    assert all(result == results[0][1] for _, result in results)
    assert (results[0][1]["member_id"], results[0][1]["points_to_earn"]) == (None, 0)
    assert table_counts(server.engine)["orders"] == 1


def test_twenty_identical_registrations_with_one_idempotency_key_create_one_member(server: Server, api: Api) -> None:
    body = {"phone": "+79124000004", "name": "Vera"}
    results = run_together(
        server,
        server.checkout,
        [lambda client: client.post("/v1/members", json=body, headers={"Idempotency-Key": "signup-77"})] * 20,
    )
    assert [status for status, _ in results] == [201] * 20, results
    assert all(result == results[0][1] for _, result in results)
    counts = table_counts(server.engine)
    assert (counts["members"], counts["idempotency_keys"]) == (1, 1)
    assert api.balance(results[0][1]["member_id"])["balance"] == 500


def test_twenty_identical_returns_and_cancels_move_points_once(server: Server, api: Api) -> None:
    member_id = api.register(phone="+79124000005")
    api.confirm(order_body("RT-1", member_id, ("1", 4, "1000.00")))
    ret = {"return_id": "RT-1-a", "lines": [{"line_id": "1", "quantity": 1}]}
    returned = run_together(
        server, server.checkout, [lambda client: client.post("/v1/orders/RT-1/returns", json=ret)] * 10
    )
    assert [status for status, _ in returned] == [201] * 10, returned
    assert all(result == returned[0][1] for _, result in returned)
    cancelled = run_together(server, server.checkout, [lambda client: client.post("/v1/orders/RT-1/cancel")] * 10)
    assert [status for status, _ in cancelled] == [200] * 10, cancelled
    assert all(result == cancelled[0][1] for _, result in cancelled)
    assert _ledger_points(server, member_id, order_key="RT-1") == [200, -50, -150]
    assert api.balance(member_id)["balance"] == 500
    assert api.admin.get("/v1/audit").json()["ok"] is True


def test_ten_identical_adjustments_with_one_idempotency_key_apply_once(server: Server, api: Api) -> None:
    """The second request waits for the account, then finds too few points: it is the first one's replay."""
    member_id = api.register(phone="+79124000006")
    api.give(member_id, 500)
    path = f"/v1/members/{member_id}/adjustments"
    for points, key in ((-600, "debit-1"), (300, "credit-1")):
        body = {"points": points, "operator": "support", "reason": "ticket 9"}

        def adjust(client: httpx.Client, body: dict[str, Any] = body, key: str = key) -> httpx.Response:
            return client.post(path, json=body, headers={"Idempotency-Key": key})

        results = run_together(server, server.admin, [adjust] * 10)
        assert [status for status, _ in results] == [201] * 10, results
        assert all(result == results[0][1] for _, result in results)
    assert sorted(p for p in _ledger_points(server, member_id, kind="adjust")) == [-600, 300, 500]
    assert api.balance(member_id)["balance"] == 700
