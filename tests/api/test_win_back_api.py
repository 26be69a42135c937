"""Win-back over HTTP, on a server whose clock the test moves: the job route, the restricted points in the balance,
the seed case at the checkout, a return, the expiry, and a bad `win_back` section refused with its path."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from loyalty.access import service as access
from loyalty.http.app import create_app
from loyalty.storage.database import UnitOfWork

from .conftest import SEED_PROGRAM, Clock, free_port, order_body

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WIN_BACK = {"inactive_days": 30, "points": 500, "expires_after_days": 14, "max_share_percent": 50}


def win_back_program() -> dict[str, Any]:
    document = copy.deepcopy(SEED_PROGRAM)
    document["actions"] = {}
    document["redemption"] = {"max_share_percent": 100}
    document["win_back"] = WIN_BACK
    return document


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def clients(engine: Engine, clock: Clock) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(admin, shop) clients of a server running on `clock`."""
    with UnitOfWork(engine) as uow:
        admin_key, shop_key = (access.create_key(uow, s, s, START)[1] for s in ("admin", "checkout"))
        uow.commit()
    port = free_port()
    config = uvicorn.Config(create_app(engine, clock), host="127.0.0.1", port=port, log_level="warning")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runner.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    with (
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30) as admin,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {shop_key}"}, timeout=30) as shop,
    ):
        yield admin, shop
    runner.should_exit = True
    thread.join(timeout=10)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_win_back_from_the_grant_to_the_checkout_a_return_and_the_expiry(
    clients: tuple[httpx.Client, httpx.Client], clock: Clock
) -> None:
    admin, shop = clients
    document = win_back_program()
    ok(admin.post("/v1/program/versions", json={"document": document, "effective_from": "2026-01-01T00:00:00Z"}), 201)
    idle = ok(shop.post("/v1/members", json={"phone": "+79990000001"}), 201)["member_id"]
    body = {"points": 200, "operator": "tests", "reason": "ordinary points"}
    ok(admin.post(f"/v1/members/{idle}/adjustments", json=body), 201)
    buyer = ok(shop.post("/v1/members", json={"phone": "+79990000002"}), 201)["member_id"]
    clock.at = START + timedelta(days=20)
    ok(shop.post("/v1/orders/confirm", json=order_body("recent", buyer, ("1", 1, "100.00"))))

    clock.at = START + timedelta(days=31)
    job = ok(admin.post("/v1/jobs/win-back", json={}))
    assert (job["job"], job["granted"], job["points"]) == ("win-back", 1, 500)
    assert ok(admin.post("/v1/jobs/win-back", json={}))["granted"] == 0  # running it again grants nothing
    assert ok(shop.post("/v1/jobs/win-back", json={}), 403) is not None  # an admin job
    burns = (clock.at + timedelta(days=14)).isoformat()
    shown = ok(shop.get(f"/v1/members/{idle}/balance"))
    assert (shown["balance"], shown["available"]) == (700, 700)
    assert shown["restricted"] == [{"points": 500, "max_share_percent": "50", "expires_at": burns}]
    assert ok(shop.get(f"/v1/members/{buyer}/balance"))["restricted"] == []

    # The seed case: 600 ₽ with 200 ordinary and 500 win-back points: 300 win-back (half of 600) + 200 ordinary.
    cart = order_body("W-1", idle, ("1", 1, "600.00"), points=700)
    quoted = ok(shop.post("/v1/orders/calculate", json=cart))
    assert (quoted["max_points"], quoted["points_applied"], quoted["amount_to_pay"]) == (500, 500, "100.00")
    limited = [r for r in quoted["explanation"] if r["source"] == "win_back"]
    assert [(r["outcome"], r["points"], r["message"]) for r in limited] == [
        ("limited", 300, "win-back points can pay at most 50% of the order")
    ]
    paid = ok(shop.post("/v1/orders/confirm", json=cart))
    assert (paid["points_applied"], paid["amount_to_pay"]) == (500, "100.00")
    shown = ok(shop.get(f"/v1/members/{idle}/balance"))
    assert shown["restricted"] == [{"points": 200, "max_share_percent": "50", "expires_at": burns}]

    # A return gives the points back into their own lots: the win-back ones keep their limit and their expiry.
    returned = ok(
        shop.post("/v1/orders/W-1/returns", json={"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 1}]}), 201
    )
    assert returned["points_given_back"] == 500
    shown = ok(shop.get(f"/v1/members/{idle}/balance"))
    assert shown["restricted"] == [{"points": 500, "max_share_percent": "50", "expires_at": burns}]
    assert shown["available"] == 700

    expired = ok(admin.post("/v1/jobs/expire", json={"as_of": burns}))
    assert expired["points"] == 500
    clock.at = START + timedelta(days=45)
    shown = ok(shop.get(f"/v1/members/{idle}/balance"))
    assert (shown["balance"], shown["restricted"]) == (200, [])
    audit = ok(admin.get("/v1/audit"))
    assert audit["ok"], audit["violations"]


@pytest.mark.parametrize(
    ("section", "path", "reason"),
    [
        ({"inactive_days": 30, "expires_after_days": 14}, "win_back.points", "is required"),
        ({**WIN_BACK, "points": 0}, "win_back.points", "must be at least 1"),
        ({**WIN_BACK, "max_share_percent": 120}, "win_back.max_share_percent", "between 0 and 100"),
        ({**WIN_BACK, "expires_after_days": "soon"}, "win_back.expires_after_days", "must be an integer"),
    ],
)
def test_a_bad_win_back_section_is_refused_with_its_path(
    clients: tuple[httpx.Client, httpx.Client], section: dict[str, Any], path: str, reason: str
) -> None:
    admin, _ = clients
    document = {**win_back_program(), "win_back": section}
    for route in ("/v1/program/validate", "/v1/program/versions"):
        refused = ok(admin.post(route, json={"document": document, "effective_from": "2026-01-01T00:00:00Z"}), 422)
        assert [(e["path"], reason in e["reason"]) for e in refused["errors"]] == [(path, True)], refused
    assert ok(admin.get("/v1/program/versions")) == []
