"""Recently viewed products over HTTP: a view, then buying that product within the window earns the bonus."""

from __future__ import annotations

import copy

import httpx

from .conftest import SEED_PROGRAM, Server


def test_buying_a_recently_viewed_product_earns_the_bonus(server: Server, admin: httpx.Client) -> None:
    document = copy.deepcopy(SEED_PROGRAM)
    document["earning"]["rules"].append(
        {"id": "viewed", "name": "Bought what you looked at", "fixed_points": 100, "viewed_within_days": 7}
    )
    assert (
        admin.post(
            "/v1/program/versions", json={"document": document, "effective_from": "2026-01-01T00:00:00+03:00"}
        ).status_code
        == 201
    )
    with server.client(server.checkout) as shop:
        member_id = shop.post("/v1/members", json={"phone": "+79990001123"}).json()["member_id"]
        ref = {"member_id": member_id}
        cart = {
            "order_id": "V-1",
            "member": ref,
            "lines": [
                {"line_id": "1", "sku": "lamp", "price": "2000.00"},
                {"line_id": "2", "sku": "bulb", "price": "100.00"},
            ],
        }
        before = shop.post("/v1/orders/calculate", json=cart).json()
        assert before["points_to_earn"] == 105
        viewed = shop.post("/v1/events/product-viewed", json={"member": ref, "sku": "lamp"})
        assert viewed.status_code == 200, viewed.text
        after = shop.post("/v1/orders/confirm", json=cart).json()
        assert after["points_to_earn"] == 205
        assert {"rule": "viewed", "points": 100} in after["lines"][0]["earned_by"]
        assert all(p["rule"] != "viewed" for p in after["lines"][1]["earned_by"])
        stale = shop.post(
            "/v1/events/product-viewed",
            json={"member": ref, "sku": "chair", "occurred_at": "2026-01-02T00:00:00+03:00"},
        )
        assert stale.status_code == 200
        chair = {"order_id": "V-2", "member": ref, "lines": [{"sku": "chair", "price": "1000.00"}]}
        assert shop.post("/v1/orders/calculate", json=chair).json()["points_to_earn"] == 50  # viewed too long ago
        bad = shop.post("/v1/events/product-viewed", json={"member": ref, "sku": ""})
        assert bad.status_code == 422
