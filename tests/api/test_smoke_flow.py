"""The whole checkout flow over HTTP with the seed figures."""

from __future__ import annotations

import httpx


def test_register_calculate_confirm_return_balance(shop: httpx.Client) -> None:
    created = shop.post("/v1/members", json={"name": "Anna", "phone": "8 912 345-67-89"})
    assert created.status_code == 201, created.text
    member_id = created.json()["member_id"]
    assert created.json()["identifiers"]["phone"] == "+79123456789"
    assert shop.get(f"/v1/members/{member_id}/balance").json()["available"] == 500

    order = {
        "order_id": "A-1",
        "member": {"phone": "+79123456789"},
        "lines": [{"line_id": "1", "sku": "coat", "quantity": 1, "price": "10000.00"}],
    }
    quote = shop.post("/v1/orders/calculate", json=order).json()
    assert quote["points_to_earn"] == 500 and quote["max_points"] == 500
    confirmed = shop.post("/v1/orders/confirm", json=order)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["points_to_earn"] == 500
    assert shop.post("/v1/orders/confirm", json=order).json() == confirmed.json()
    changed = shop.post("/v1/orders/confirm", json={**order, "points": 100})
    assert changed.status_code == 409
    assert changed.headers["content-type"].startswith("application/problem+json")

    returned = shop.post(
        "/v1/orders/A-1/returns", json={"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 1}]}
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["points_taken_back"] == 500
    balance = shop.get(f"/v1/members/{member_id}/balance").json()
    assert balance["balance"] == 500
    bad = shop.post("/v1/orders/calculate", json={**order, "lines": [{"sku": "x", "quantity": -1, "price": 10.5}]})
    assert bad.status_code == 422
    paths = {e["path"] for e in bad.json()["errors"]}
    assert {"lines[0].quantity", "lines[0].price"} <= paths
