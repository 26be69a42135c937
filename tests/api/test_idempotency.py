"""Idempotency over HTTP: the Idempotency-Key header on registration, profile updates, adjustments, events and
program publishing; confirm, cancel and returns by their own ids.

A replay returns the identical response with `Idempotent-Replayed: true` and writes nothing; the same key with
another body is 409 and changes nothing; a refused request stores nothing, so the fixed request may reuse the key."""

from __future__ import annotations

import httpx
import pytest

from .conftest import SEED_PROGRAM, Api, Server, order_body, state_snapshot, table_counts

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = response.json()
    assert str(body["type"]).endswith("/" + kind), body
    return body


def _send(client: httpx.Client, method: str, path: str, body: object = None, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    if body is None:
        return client.request(method, path, headers=headers)
    return client.request(method, path, json=body, headers=headers)


def check_replay(
    server: Server, client: httpx.Client, method: str, path: str, body: object, key: str, status: int
) -> httpx.Response:
    """Send once, then again with the same key: the second is the first, byte for byte, and writes nothing."""
    first = _send(client, method, path, body, key)
    assert first.status_code == status, first.text
    assert "idempotent-replayed" not in first.headers
    after_first = state_snapshot(server.engine)
    for _ in range(2):
        again = _send(client, method, path, body, key)
        assert again.status_code == status, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["content-type"] == first.headers["content-type"]
    assert state_snapshot(server.engine) == after_first
    return first


def check_reuse_refused(server: Server, client: httpx.Client, method: str, path: str, body: object, key: str) -> None:
    """The key again with another body: 409, and nothing changes."""
    before = state_snapshot(server.engine)
    response = _send(client, method, path, body, key)
    problem = assert_problem(response, 409, "idempotency-key-reused")
    assert key in str(problem["detail"])
    assert state_snapshot(server.engine) == before


def check_refusal_stores_nothing(
    server: Server,
    client: httpx.Client,
    method: str,
    path: str,
    bad: object,
    good: object,
    key: str,
    status: int,
    refused: int = 422,
) -> httpx.Response:
    """A refused request with a key writes nothing (not even the key): the fixed request with it succeeds."""
    before = state_snapshot(server.engine)
    response = _send(client, method, path, bad, key)
    assert response.status_code == refused, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "idempotent-replayed" not in response.headers
    assert state_snapshot(server.engine) == before
    fixed = _send(client, method, path, good, key)
    assert fixed.status_code == status, fixed.text
    assert "idempotent-replayed" not in fixed.headers
    replay = _send(client, method, path, good, key)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == fixed.json()
    return fixed


def test_registration(server: Server, shop: httpx.Client) -> None:
    body = {"phone": "+7 912 000-00-01", "name": "Ivan", "consents": {"sms": True}, "source": "till"}
    first = check_replay(server, shop, "POST", "/v1/members", body, "reg-1", 201)
    assert table_counts(server.engine)["members"] == 1
    assert shop.get(f"/v1/members/{first.json()['member_id']}/balance").json()["balance"] == 500
    # Without the key the same body is a second registration, refused because the phone is taken.
    assert_problem(shop.post("/v1/members", json=body), 409, "conflict")
    check_reuse_refused(server, shop, "POST", "/v1/members", {**body, "name": "Someone else"}, "reg-1")
    check_reuse_refused(server, shop, "POST", "/v1/members", {"phone": "+79120000002"}, "reg-1")
    # Refused for bad input, then for a conflict: the key stays unused both times.
    check_refusal_stores_nothing(
        server, shop, "POST", "/v1/members", {"email": "not-an-email"}, {"email": "ok@example.com"}, "reg-2", 201
    )
    check_refusal_stores_nothing(
        server,
        shop,
        "POST",
        "/v1/members",
        {"phone": "+79120000001", "card": "C-3"},
        {"card": "C-3"},
        "reg-3",
        201,
        refused=409,
    )
    assert table_counts(server.engine)["members"] == 3


def test_keys_belong_to_their_api_key_and_their_request(
    server: Server, shop: httpx.Client, admin: httpx.Client
) -> None:
    first = _send(shop, "POST", "/v1/members", {"card": "K-1"}, "shared")
    assert first.status_code == 201
    # Another API key may use the same key value for its own request.
    other = _send(admin, "POST", "/v1/members", {"card": "K-2"}, "shared")
    assert other.status_code == 201, other.text
    assert "idempotent-replayed" not in other.headers
    assert other.json()["member_id"] != first.json()["member_id"]
    # The same key on another route is another request: refused.
    member_id = first.json()["member_id"]
    check_reuse_refused(server, shop, "PATCH", f"/v1/members/{member_id}", {"name": "X"}, "shared")
    # A key must be 1 to 200 characters.
    for bad in ("", "k" * 201):
        assert_problem(_send(shop, "POST", "/v1/members", {"card": "K-3"}, bad), 422, "invalid-input")
    assert table_counts(server.engine)["members"] == 2
    assert _send(shop, "POST", "/v1/members", {"card": "K-3"}, "k" * 200).status_code == 201


def test_profile_update(server: Server, api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79120000003", name="Olga")
    path = f"/v1/members/{member_id}"
    body = {"name": "Olga K.", "consents": {"email": True}, "source": "app"}
    first = check_replay(server, shop, "PATCH", path, body, "patch-1", 200)
    assert first.json()["name"] == "Olga K."
    consent_at = first.json()["consents"]["email"]["at"]
    check_reuse_refused(server, shop, "PATCH", path, {"name": "Somebody"}, "patch-1")
    assert shop.get(path).json()["name"] == "Olga K."
    # A later change is not undone by a replay of the first: the replay returns what was stored, writes nothing.
    assert shop.patch(path, json={"name": "Olga B."}).status_code == 200
    replay = _send(shop, "PATCH", path, body, "patch-1")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["name"] == "Olga K."
    current = shop.get(path).json()
    assert current["name"] == "Olga B."
    assert current["consents"]["email"]["at"] == consent_at
    check_refusal_stores_nothing(
        server, shop, "PATCH", path, {"birth_date": "1990-02-30"}, {"birth_date": "1990-02-28"}, "patch-2", 200
    )
    assert shop.get(path).json()["birth_date"] == "1990-02-28"


def test_adjustment(server: Server, api: Api, admin: httpx.Client) -> None:
    member_id = api.register(phone="+79120000004")
    path = f"/v1/members/{member_id}/adjustments"
    body = {"points": 100, "operator": "support:olga", "reason": "late delivery, ticket 1"}
    first = check_replay(server, admin, "POST", path, body, "adj-1", 201)
    assert first.json()["balance"] == 600
    check_reuse_refused(server, admin, "POST", path, {**body, "points": 200}, "adj-1")
    assert api.balance(member_id)["balance"] == 600
    # Refused inside the transaction (more than the balance, then zero): nothing kept, the key reusable.
    check_refusal_stores_nothing(
        server, admin, "POST", path, {**body, "points": -601}, {**body, "points": -600}, "adj-2", 201
    )
    check_refusal_stores_nothing(
        server, admin, "POST", path, {**body, "points": 0}, {**body, "points": 5}, "adj-3", 201
    )
    assert api.balance(member_id)["balance"] == 5
    entries = api.shop.get(f"/v1/members/{member_id}/entries").json()["entries"]
    assert [e["points"] for e in entries] == [5, -600, 100, 500]


def test_event(server: Server, api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79120000005")
    other_id = api.register(phone="+79120000006")
    body = {"type": "review", "event_id": "rev-1", "member": {"member_id": member_id}}
    first = check_replay(server, shop, "POST", "/v1/events", body, "ev-1", 201)
    assert first.json()["points"] == 50
    check_reuse_refused(server, shop, "POST", "/v1/events", {**body, "event_id": "rev-2"}, "ev-1")
    # Events are idempotent by their event id even without a key...
    before = state_snapshot(server.engine)
    again = shop.post("/v1/events", json=body)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert state_snapshot(server.engine) == before
    # ...and the same event id for another member is a conflict that grants nothing.
    assert_problem(shop.post("/v1/events", json={**body, "member": {"member_id": other_id}}), 409, "conflict")
    assert state_snapshot(server.engine) == before
    check_refusal_stores_nothing(
        server,
        shop,
        "POST",
        "/v1/events",
        {**body, "type": "no-such-action", "event_id": "rev-3"},
        {**body, "event_id": "rev-3"},
        "ev-2",
        201,
    )
    assert api.balance(member_id)["balance"] == 600
    assert api.balance(other_id)["balance"] == 500


@pytest.mark.usefixtures("shop")
def test_program_publish(server: Server, admin: httpx.Client) -> None:
    v2 = {"document": {**SEED_PROGRAM, "name": "Winter"}, "effective_from": "2026-12-01T00:00:00+03:00"}
    first = check_replay(server, admin, "POST", "/v1/program/versions", v2, "pub-1", 201)
    assert first.json()["version"] == 2
    check_reuse_refused(
        server, admin, "POST", "/v1/program/versions", {**v2, "effective_from": "2026-12-02T00:00:00+03:00"}, "pub-1"
    )
    # Publishing the same document with the same date again, without a key, is a no-op too.
    before = state_snapshot(server.engine)
    same = admin.post("/v1/program/versions", json=v2)
    assert same.status_code == 201
    assert same.json()["version"] == 2
    assert state_snapshot(server.engine) == before
    bad = {**v2, "document": {**SEED_PROGRAM, "earning": {"rules": [{"id": "base", "percent": 150}]}}}
    v3 = {"document": {**SEED_PROGRAM, "name": "Spring"}, "effective_from": "2026-12-15T00:00:00+03:00"}
    fixed = check_refusal_stores_nothing(server, admin, "POST", "/v1/program/versions", bad, v3, "pub-2", 201)
    assert fixed.json()["version"] == 3
    assert [v["version"] for v in admin.get("/v1/program/versions").json()] == [1, 2, 3]


def test_confirm_is_idempotent_by_order_id(server: Server, api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79120000007")
    api.give(member_id, 1000)
    order = order_body("O-1", member_id, ("1", 2, "3000.00"), ("2", 1, "4000.00"), points=700)
    first = shop.post("/v1/orders/confirm", json=order)
    assert first.status_code == 200, first.text
    assert first.json()["points_applied"] == 700
    after = state_snapshot(server.engine)
    for _ in range(3):
        again = shop.post("/v1/orders/confirm", json=order)
        assert again.status_code == 200
        assert again.json() == first.json()
    # Confirming the recorded order by its id, with no body, returns it too.
    by_id = shop.post("/v1/orders/O-1/confirm")
    assert by_id.status_code == 200
    assert by_id.json() == first.json()
    assert state_snapshot(server.engine) == after
    other_id = api.register(phone="+79120000008")
    after = state_snapshot(server.engine)
    for changed in (
        {**order, "points": 600},
        order_body("O-1", member_id, ("1", 2, "3000.00"), ("2", 1, "4000.01"), points=700),
        order_body("O-1", member_id, ("1", 2, "3000.00"), points=700),
        order_body("O-1", other_id, ("1", 2, "3000.00"), ("2", 1, "4000.00")),
        order_body("O-1", None, ("1", 2, "3000.00"), ("2", 1, "4000.00")),
        {**order, "channel": "web"},
    ):
        problem = assert_problem(shop.post("/v1/orders/confirm", json=changed), 409, "conflict")
        assert "O-1" in str(problem["detail"])
    assert state_snapshot(server.engine) == after
    assert api.balance(member_id)["balance"] == 800


def test_cancel_and_returns_are_idempotent(server: Server, api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79120000009")
    api.confirm(order_body("O-2", member_id, ("1", 3, "1000.00"), ("2", 1, "2000.00")))
    ret = {"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 2}]}
    first = shop.post("/v1/orders/O-2/returns", json=ret)
    assert first.status_code == 201, first.text
    assert first.json()["points_taken_back"] == 100
    after = state_snapshot(server.engine)
    again = shop.post("/v1/orders/O-2/returns", json=ret)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert state_snapshot(server.engine) == after
    for changed in (
        {"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 1}]},
        {"return_id": "R-1", "lines": [{"line_id": "2", "quantity": 1}]},
        {"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}]},
    ):
        assert_problem(shop.post("/v1/orders/O-2/returns", json=changed), 409, "conflict")

    cancelled = shop.post("/v1/orders/O-2/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["points_taken_back"] == 150  # what R-1 left: one unit of line 1 and line 2
    after = state_snapshot(server.engine)
    for _ in range(2):
        again = shop.post("/v1/orders/O-2/cancel")
        assert again.status_code == 200
        assert again.json() == cancelled.json()
    # The earlier return's replay still answers as it did.
    assert shop.post("/v1/orders/O-2/returns", json=ret).json() == first.json()
    assert state_snapshot(server.engine) == after
    # A cancelled order takes no new return.
    new = {"return_id": "R-9", "lines": [{"line_id": "1", "quantity": 1}]}
    assert_problem(shop.post("/v1/orders/O-2/returns", json=new), 409, "conflict")
    assert state_snapshot(server.engine) == after
    assert api.balance(member_id)["balance"] == 500


def test_a_return_id_is_the_callers_id_within_its_order(server: Server, api: Api, shop: httpx.Client) -> None:
    """Tills number returns per order: R-1 of one order and R-1 of another are two returns, each replayed by its
    own order, and neither is mistaken for the other."""
    member_id = api.register(phone="+79120000011")
    api.confirm(order_body("O-4", member_id, ("1", 3, "1000.00")))
    api.confirm(order_body("O-5", member_id, ("1", 2, "1000.00"), ("2", 1, "2000.00")))
    first = shop.post("/v1/orders/O-4/returns", json={"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 1}]})
    assert first.status_code == 201, first.text
    other_body = {"return_id": "R-1", "lines": [{"line_id": "2", "quantity": 1}]}
    other = shop.post("/v1/orders/O-5/returns", json=other_body)
    assert other.status_code == 201, other.text
    assert (other.json()["order_id"], other.json()["return_id"]) == ("O-5", "R-1")
    assert other.json()["points_taken_back"] == 100
    after = state_snapshot(server.engine)
    assert shop.post("/v1/orders/O-5/returns", json=other_body).json() == other.json()
    again = shop.post("/v1/orders/O-4/returns", json={"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 1}]})
    assert (again.status_code, again.json()) == (201, first.json())
    assert state_snapshot(server.engine) == after
    # Within its order the id still names one return: another body under it is refused.
    changed = {"return_id": "R-1", "lines": [{"line_id": "1", "quantity": 1}]}
    assert_problem(shop.post("/v1/orders/O-5/returns", json=changed), 409, "conflict")
    assert state_snapshot(server.engine) == after
    entries = [e for e in admin_entries(shop, member_id) if e["return_id"] == "R-1"]
    assert sorted((e["order_id"], e["points"]) for e in entries) == [("O-4", -50), ("O-5", -100)]
    assert api.balance(member_id)["balance"] == 500 + 150 + 200 - 50 - 100


def admin_entries(client: httpx.Client, member_id: int) -> list[dict[str, object]]:
    response = client.get(f"/v1/members/{member_id}/entries", params={"limit": 500})
    assert response.status_code == 200, response.text
    entries: list[dict[str, object]] = response.json()["entries"]
    return entries


def test_a_cancelled_reservation_answers_every_retry_as_the_first_time(
    server: Server, api: Api, shop: httpx.Client
) -> None:
    member_id = api.register(phone="+79120000012")
    api.give(member_id, 1000)
    for order_id, release_first in (("RC-1", False), ("RC-2", True)):
        order = order_body(order_id, member_id, ("1", 1, "5000.00"), points=300, hold_seconds=600)
        assert shop.post("/v1/orders/reserve", json=order).status_code == 200
        if release_first:
            assert shop.post(f"/v1/orders/{order_id}/release").status_code == 200
        cancelled = shop.post(f"/v1/orders/{order_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json() == {"order_id": order_id, "status": "cancelled", "points_released": 300}
        after = state_snapshot(server.engine)
        for _ in range(2):
            again = shop.post(f"/v1/orders/{order_id}/cancel")
            assert (again.status_code, again.json()) == (200, cancelled.json())
        assert state_snapshot(server.engine) == after
    assert api.balance(member_id)["available"] == 1500


def test_reserve_release_and_confirm_are_idempotent(server: Server, api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79120000010")
    order = order_body("RS-1", member_id, ("1", 1, "5000.00"), points=300, hold_seconds=600)
    first = shop.post("/v1/orders/reserve", json=order)
    assert first.status_code == 200, first.text
    after = state_snapshot(server.engine)
    again = shop.post("/v1/orders/reserve", json=order)
    assert again.json() == first.json()
    assert state_snapshot(server.engine) == after
    assert_problem(shop.post("/v1/orders/reserve", json={**order, "points": 200}), 409, "conflict")
    released = shop.post("/v1/orders/RS-1/release")
    assert released.status_code == 200
    assert released.json() == {"order_id": "RS-1", "status": "released", "points_released": 300}
    after = state_snapshot(server.engine)
    assert shop.post("/v1/orders/RS-1/release").json() == released.json()
    assert state_snapshot(server.engine) == after
    # A released reservation cannot be confirmed or reserved again under its id.
    assert_problem(shop.post("/v1/orders/RS-1/confirm"), 409, "conflict")
    assert_problem(shop.post("/v1/orders/reserve", json=order), 409, "conflict")
    assert state_snapshot(server.engine) == after

    shop.post("/v1/orders/reserve", json={**order, "order_id": "RS-2"}).raise_for_status()
    confirmed = shop.post("/v1/orders/RS-2/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    after = state_snapshot(server.engine)
    assert shop.post("/v1/orders/RS-2/confirm").json() == confirmed.json()
    body = {k: v for k, v in order.items() if k != "hold_seconds"}
    assert shop.post("/v1/orders/confirm", json={**body, "order_id": "RS-2"}).json() == confirmed.json()
    assert state_snapshot(server.engine) == after
    assert_problem(shop.post("/v1/orders/RS-2/release"), 409, "conflict")
    assert api.balance(member_id)["balance"] == 200
