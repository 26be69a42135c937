"""What an order body over HTTP may leave out, and what a caller is told about a money value of the wrong type."""

from __future__ import annotations

from .conftest import Api, Server, order_body, state_snapshot


def test_a_cart_is_calculated_without_an_order_id_but_confirmed_only_with_one(api: Api) -> None:
    member_id = api.register(phone="+79121000001")
    cart = order_body("unused", member_id, ("1", 1, "2000.00"))
    del cart["order_id"]
    quote = api.shop.post("/v1/orders/calculate", json=cart)
    assert quote.status_code == 200, quote.text
    assert quote.json()["order_id"] is None
    assert (quote.json()["status"], quote.json()["points_to_earn"]) == ("quote", 100)

    for route in ("reserve", "confirm"):
        refused = api.shop.post(f"/v1/orders/{route}", json=cart)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [{"path": "order_id", "reason": "is required"}]


def test_money_sent_as_a_json_number_is_told_to_be_a_decimal_string(server: Server, api: Api) -> None:
    member_id = api.register(phone="+79121000002")
    before = state_snapshot(server.engine)
    body = order_body("M-1", member_id, ("1", 1, "1000.00"), ("2", 1, "10.00"))
    body["lines"][0]["price"] = 1000.5
    body["lines"][1]["discount"] = 1
    for route in ("calculate", "confirm"):
        refused = api.shop.post(f"/v1/orders/{route}", json=body)
        assert refused.status_code == 422, refused.text
        reason = 'must be a decimal string such as "1000.50", not a JSON number'
        assert refused.json()["errors"] == [
            {"path": "lines[0].price", "reason": reason},
            {"path": "lines[1].discount", "reason": reason},
        ]
    assert state_snapshot(server.engine) == before
