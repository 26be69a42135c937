"""The checkout and the rest of the API over HTTP, with the seed figures: 5% cashback, 14 pending days, a 1,000 ₽
minimum check, at most 99% paid with points, earn or spend, 365-day expiry, 500 points for registering and 50 per
review (at most 2 a month).

The server runs on the real clock; orders without `occurred_at` happen now, earlier ones are dated in the past."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .conftest import SEED_PROGRAM, Api, Server, order_body, state_snapshot

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = response.json()
    assert str(body["type"]).endswith("/" + kind), body
    return body


def paths(problem: dict[str, object]) -> set[str]:
    errors = problem.get("errors")
    assert isinstance(errors, list)
    return {e["path"] for e in errors}


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def reasons(result: dict[str, object]) -> set[tuple[str, str]]:
    explanation = result["explanation"]
    assert isinstance(explanation, list)
    return {(r["source"], r["outcome"]) for r in explanation}


def test_an_order_earns_5_percent_pending_for_14_days(server: Server, api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79121000001", name="Anna")
    order = order_body("E-1", member_id, ("1", 1, "10000.00"))
    before = state_snapshot(server.engine)
    quote = shop.post("/v1/orders/calculate", json=order)
    assert quote.status_code == 200, quote.text
    assert state_snapshot(server.engine) == before  # a quote writes nothing
    assert quote.json()["status"] == "quote"
    assert quote.json()["points_to_earn"] == 500
    assert quote.json()["balance_available"] == 500

    result = api.confirm(order)
    assert result["status"] == "confirmed"
    assert result["member_id"] == member_id
    assert (result["program_version"], result["currency"], result["total"]) == (1, "RUB", "10000.00")
    assert (result["points_applied"], result["points_value"], result["amount_to_pay"]) == (0, "0.00", "10000.00")
    assert result["points_to_earn"] == 500
    assert result["max_points"] == 500
    assert result["lines"][0]["earned_by"] == [{"rule": "base", "points": 500}]
    assert ("base", "applied") in reasons(result)
    occurred = instant(str(result["occurred_at"]))
    assert abs((occurred - server.clock()).total_seconds()) < 60
    assert instant(str(result["points_available_at"])) - occurred == timedelta(days=14)
    assert instant(str(result["points_expire_at"])) - occurred == timedelta(days=365)
    for key in ("total", "max_points", "points_applied", "amount_to_pay", "points_to_earn", "lines"):
        assert quote.json()[key] == result[key]  # the quote is what was confirmed

    balance = api.balance(member_id)
    assert balance["balance"] == 1000
    assert balance["available"] == 500  # the registration bonus
    assert balance["pending"] == 500  # the order's points, for 14 days
    assert balance["held"] == 0
    assert balance["debt"] == 0
    assert sum(e["points"] for e in balance["next_expiries"]) == 1000
    entries = shop.get(f"/v1/members/{member_id}/entries").json()["entries"]
    assert [(e["kind"], e["points"], e["rule"], e["order_id"]) for e in entries] == [
        ("earn", 500, "base", "E-1"),
        ("action", 500, "action.registration", None),
    ]
    assert all(e["program_version"] == 1 for e in entries)

    # Points of an order older than 14 days are spendable now; delivery never earns.
    past = server.clock() - timedelta(days=20)
    old = order_body("E-2", member_id, ("1", 1, "2000.00"), occurred_at=iso(past))
    old["lines"].append({"line_id": "d", "sku": "courier", "category": "delivery", "price": "300.00"})
    earned = api.confirm(old)
    assert earned["points_to_earn"] == 100
    assert earned["total"] == "2300.00"
    balance = api.balance(member_id)
    assert (balance["balance"], balance["available"], balance["pending"]) == (1100, 600, 500)


def test_below_the_minimum_check_no_points_are_payable(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79121000002")
    small = order_body("MC-1", member_id, ("1", 1, "999.99"))
    quote = shop.post("/v1/orders/calculate", json=small).json()
    assert quote["max_points"] == 0
    assert ("redemption.min_check", "blocked") in reasons(quote)
    assert quote["points_to_earn"] == 49  # 5% of 999.99, rounded down
    # Asking for points below the minimum check applies none, explained, and the order still earns.
    asked = shop.post("/v1/orders/calculate", json={**small, "points": 100}).json()
    assert (asked["max_points"], asked["points_applied"], asked["amount_to_pay"]) == (0, 0, "999.99")
    assert ("redemption", "limited") in reasons(asked)
    confirmed = api.confirm({**small, "points": 100})
    assert (confirmed["points_applied"], confirmed["points_to_earn"]) == (0, 49)
    assert api.balance(member_id)["available"] == 500
    at_minimum = shop.post("/v1/orders/calculate", json=order_body("MC-2", member_id, ("1", 1, "1000.00"))).json()
    assert at_minimum["max_points"] == 500
    assert ("redemption.min_check", "blocked") not in reasons(at_minimum)


def test_points_pay_at_most_99_percent(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79121000003")
    api.give(member_id, 20000)
    order = order_body("CAP-1", member_id, ("1", 1, "10000.00"), points=20000)
    quote = shop.post("/v1/orders/calculate", json=order).json()
    assert quote["max_points"] == 9900
    assert (quote["points_applied"], quote["points_value"], quote["amount_to_pay"]) == (9900, "9900.00", "100.00")
    assert {("redemption.max_share_percent", "limited"), ("redemption", "limited")} <= reasons(quote)
    result = api.confirm(order)
    assert (result["points_applied"], result["amount_to_pay"], result["points_to_earn"]) == (9900, "100.00", 0)
    assert api.balance(member_id)["balance"] == 20500 - 9900


def test_an_order_paid_with_points_earns_nothing(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79121000004")
    order = order_body("EOS-1", member_id, ("1", 2, "2500.00"), ("2", 1, "1000.00"), points=100)
    quote = shop.post("/v1/orders/calculate", json=order).json()
    assert (quote["points_applied"], quote["points_to_earn"]) == (100, 0)
    assert ("redemption.earn_or_spend", "blocked") in reasons(quote)
    assert all(line["points_to_earn"] == 0 for line in quote["lines"])
    assert sum(line["points_applied"] for line in quote["lines"]) == 100
    result = api.confirm(order)
    assert (result["points_applied"], result["points_to_earn"], result["amount_to_pay"]) == (100, 0, "5900.00")
    assert result["points_available_at"] is None
    entries = shop.get(f"/v1/members/{member_id}/entries").json()["entries"]
    assert [(e["kind"], e["points"]) for e in entries] == [("spend", -100), ("action", 500)]


def test_reservations_hold_points_until_confirmed_released_or_cancelled(
    server: Server, api: Api, shop: httpx.Client
) -> None:
    member_id = api.register(phone="+79121000005")
    reserved = shop.post(
        "/v1/orders/reserve", json=order_body("RV-1", member_id, ("1", 1, "5000.00"), points=300, hold_seconds=600)
    )
    assert reserved.status_code == 200, reserved.text
    body = reserved.json()
    assert (body["status"], body["points_applied"], body["points_to_earn"]) == ("reserved", 300, 0)
    hold = instant(body["hold_expires_at"]) - server.clock()
    assert timedelta(seconds=540) < hold <= timedelta(seconds=600)
    balance = api.balance(member_id)
    assert (balance["balance"], balance["available"], balance["held"]) == (500, 200, 300)
    assert shop.get("/v1/orders/RV-1").json()["status"] == "reserved"

    # Another order cannot spend the held points.
    other = order_body("RV-OTHER", member_id, ("1", 1, "5000.00"), points=300)
    before = state_snapshot(server.engine)
    for path in ("/v1/orders/calculate", "/v1/orders/confirm", "/v1/orders/reserve"):
        problem = assert_problem(shop.post(path, json=other), 422, "insufficient-points")
        assert paths(problem) == {"points"}
    assert state_snapshot(server.engine) == before
    assert shop.post("/v1/orders/calculate", json={**other, "points": 200}).json()["balance_available"] == 200
    # The reservation's own order sees its held points as its own.
    assert shop.post("/v1/orders/calculate", json={**other, "order_id": "RV-1"}).json()["balance_available"] == 500

    released = shop.post("/v1/orders/RV-1/release")
    assert released.json() == {"order_id": "RV-1", "status": "released", "points_released": 300}
    assert api.balance(member_id)["available"] == 500
    assert shop.get("/v1/orders/RV-1").json()["status"] == "released"

    # Reserve, then confirm the reservation by its id with no body: it is confirmed as reserved.
    second = shop.post(
        "/v1/orders/reserve", json=order_body("RV-2", member_id, ("1", 1, "5000.00"), points=400, hold_seconds=60)
    ).json()
    confirmed = shop.post("/v1/orders/RV-2/confirm")
    assert confirmed.status_code == 200, confirmed.text
    result = confirmed.json()
    assert (result["status"], result["points_applied"], result["amount_to_pay"]) == ("confirmed", 400, "4600.00")
    assert result["occurred_at"] == second["occurred_at"]
    balance = api.balance(member_id)
    assert (balance["balance"], balance["available"], balance["held"]) == (100, 100, 0)
    detail = shop.get("/v1/orders/RV-2").json()
    assert detail["status"] == "confirmed"
    assert [(e["kind"], e["points"]) for e in detail["entries"]] == [("spend", -400)]

    # A cancelled reservation frees its points too.
    shop.post(
        "/v1/orders/reserve", json=order_body("RV-3", member_id, ("1", 1, "5000.00"), points=100)
    ).raise_for_status()
    assert api.balance(member_id)["available"] == 0
    cancelled = shop.post("/v1/orders/RV-3/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["points_released"]) == ("cancelled", 100)
    assert api.balance(member_id)["available"] == 100
    assert shop.get("/v1/orders/RV-3").json()["status"] == "cancelled"
    assert_problem(shop.post("/v1/orders/RV-3/confirm"), 409, "conflict")
    assert api.admin.get("/v1/audit").json()["ok"] is True


def test_cancel_takes_back_what_a_confirmed_order_earned(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79121000006")
    api.confirm(order_body("CN-1", member_id, ("1", 1, "6000.00"), ("2", 2, "2000.00")))
    assert api.balance(member_id)["balance"] == 1000
    cancelled = shop.post("/v1/orders/CN-1/cancel")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["points_taken_back"], body["points_given_back"], body["balance"]) == (
        "cancelled",
        500,
        0,
        500,
    )
    assert {(x["line_id"], x["quantity"]) for x in body["lines"]} == {("1", 1), ("2", 2)}
    detail = shop.get("/v1/orders/CN-1").json()
    assert (detail["status"], detail["returned"]) == ("cancelled", {"1": 1, "2": 2})
    assert sum(e["points"] for e in detail["entries"]) == 0


def test_partial_returns_add_up_to_the_order_exactly(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79121000007")
    earning = api.confirm(order_body("PR-1", member_id, ("1", 3, "333.33"), ("2", 7, "1234.56"), ("3", 1, "10.01")))
    assert earning["total"] == "9651.92"
    assert earning["points_to_earn"] == 482
    returns = [
        ("PR-1a", [("1", 1), ("2", 2)]),
        ("PR-1b", [("2", 3), ("1", 1), ("3", 1)]),
        ("PR-1c", [("1", 1), ("2", 1)]),
        ("PR-1d", [("2", 1)]),
    ]
    taken, refunded = 0, 0
    for return_id, lines in returns:
        response = shop.post(
            "/v1/orders/PR-1/returns",
            json={"return_id": return_id, "lines": [{"line_id": i, "quantity": q} for i, q in lines]},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["points_given_back"] == 0
        assert body["points_taken_back"] == sum(x["points_taken_back"] for x in body["lines"])
        taken += body["points_taken_back"]
        refunded += sum(round(float(x["amount_refunded"]) * 100) for x in body["lines"])
    assert taken == 482
    assert refunded == 965192
    detail = shop.get("/v1/orders/PR-1").json()
    assert detail["returned"] == {"1": 3, "2": 7, "3": 1}
    assert {k: v for k, v in detail["result"].items() if v is not None} == {
        k: v for k, v in earning.items() if v is not None
    }
    kinds = [e["kind"] for e in detail["entries"]]
    assert kinds == ["earn"] + ["return_earned"] * 4
    assert sum(e["points"] for e in detail["entries"]) == 0
    assert [e["return_id"] for e in detail["entries"][1:]] == ["PR-1a", "PR-1b", "PR-1c", "PR-1d"]
    assert api.balance(member_id)["balance"] == 500
    # Nothing is left to return.
    problem = assert_problem(
        shop.post("/v1/orders/PR-1/returns", json={"return_id": "PR-1e", "lines": [{"line_id": "2", "quantity": 1}]}),
        422,
        "invalid-input",
    )
    assert paths(problem) == {"lines[0].quantity"}

    # An order paid with points gives them back, per line, to the point.
    api.give(member_id, 5000)
    spending = api.confirm(order_body("PR-2", member_id, ("1", 3, "1000.00"), ("2", 2, "2500.00"), points=3333))
    assert (spending["points_applied"], spending["amount_to_pay"]) == (3333, "4667.00")
    given, refunded = 0, 0
    for n, lines in enumerate([[("1", 1)], [("1", 1), ("2", 1)], [("2", 1)], [("1", 1)]]):
        body = shop.post(
            "/v1/orders/PR-2/returns",
            json={"return_id": f"PR-2-{n}", "lines": [{"line_id": i, "quantity": q} for i, q in lines]},
        ).json()
        assert body["points_taken_back"] == 0
        given += body["points_given_back"]
        refunded += sum(round(float(x["amount_refunded"]) * 100) for x in body["lines"])
    assert given == 3333
    assert refunded == 466700
    assert api.balance(member_id)["balance"] == 5500
    audit = api.admin.get("/v1/audit").json()
    assert audit["ok"] is True, audit["violations"]


def test_members_are_found_by_any_identifier(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(
        phone="8 (912) 111-22-33", email="Anna.K@Example.COM", card="CARD-77", external_id="crm-77", name="Anna"
    )
    api.register(phone="+79121112234")
    for query in (
        {"phone": "+79121112233"},
        {"phone": "8 912 111 22 33"},
        {"phone": "+7 (912) 111-22-33"},
        {"email": "anna.k@example.com"},
        {"email": "ANNA.K@EXAMPLE.COM"},
        {"card": "CARD-77"},
        {"external_id": "crm-77"},
    ):
        response = shop.get("/v1/members/lookup", params=query)
        assert response.status_code == 200, (query, response.text)
        assert response.json()["member_id"] == member_id
    profile = shop.get(f"/v1/members/{member_id}").json()
    assert profile["identifiers"] == {
        "phone": "+79121112233",
        "email": "anna.k@example.com",
        "card": "CARD-77",
        "external_id": "crm-77",
    }
    for query in ({"card": "CARD-78"}, {"phone": "+79121112235"}, {"email": "nobody@example.com"}):
        assert_problem(shop.get("/v1/members/lookup", params=query), 404, "not-found")
    assert_problem(shop.get("/v1/members/lookup"), 422, "invalid-input")
    assert_problem(shop.get("/v1/members/lookup", params={"card": "CARD-77", "email": "x@y.z"}), 422, "invalid-input")
    # An order may name its member by any identifier too.
    for ref in (
        {"phone": "89121112233"},
        {"email": "anna.k@EXAMPLE.com"},
        {"card": "CARD-77"},
        {"external_id": "crm-77"},
    ):
        quote = shop.post("/v1/orders/calculate", json={**order_body("LK", None, ("1", 1, "100.00")), "member": ref})
        assert quote.json()["member_id"] == member_id


@pytest.mark.usefixtures("api")
def test_profiles_and_consents_are_updated(server: Server, shop: httpx.Client) -> None:
    created = shop.post(
        "/v1/members",
        json={"card": "P-1", "name": "Anna", "consents": {"personal_data": True, "email": False}, "source": "till-7"},
    )
    assert created.status_code == 201
    member_id = created.json()["member_id"]
    consents = created.json()["consents"]
    assert {k: (v["granted"], v["source"]) for k, v in consents.items()} == {
        "personal_data": (True, "till-7"),
        "email": (False, "till-7"),
    }
    path = f"/v1/members/{member_id}"
    updated = shop.patch(path, json={"name": "Anna K.", "gender": "female", "birth_date": "1990-05-17"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["gender"], updated.json()["birth_date"]) == (
        "Anna K.",
        "female",
        "1990-05-17",
    )
    changed = shop.patch(path, json={"consents": {"email": True, "sms": True}, "source": "app-settings"})
    assert changed.status_code == 200
    profile = shop.get(path).json()
    assert profile["name"] == "Anna K."  # only the fields sent change
    assert {k: (v["granted"], v["source"]) for k, v in profile["consents"].items()} == {
        "personal_data": (True, "till-7"),
        "email": (True, "app-settings"),
        "sms": (True, "app-settings"),
    }
    assert abs((instant(profile["consents"]["sms"]["at"]) - server.clock()).total_seconds()) < 60
    # A field set to null is cleared.
    assert shop.patch(path, json={"gender": None}).json()["gender"] is None
    assert shop.get(path).json()["birth_date"] == "1990-05-17"


def test_entries_are_paged_newest_first(api: Api, shop: httpx.Client) -> None:
    member_id = api.register(card="PG-1")
    for n in range(11):
        api.give(member_id, n + 1, reason=f"top-up {n}")
    everything = shop.get(f"/v1/members/{member_id}/entries", params={"limit": 500}).json()
    assert everything["next_cursor"] is None
    numbers = [e["entry_no"] for e in everything["entries"]]
    assert len(numbers) == 12
    assert numbers == sorted(numbers, reverse=True)
    seen: list[int] = []
    cursor = None
    pages = []
    while True:
        params: dict[str, object] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = shop.get(f"/v1/members/{member_id}/entries", params=params).json()
        pages.append(len(page["entries"]))
        seen.extend(e["entry_no"] for e in page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == str(page["entries"][-1]["entry_no"])
    assert pages == [5, 5, 2]
    assert seen == numbers
    assert shop.get(f"/v1/members/{member_id}/entries", params={"limit": 12}).json()["next_cursor"] is None
    first_11 = shop.get(f"/v1/members/{member_id}/entries", params={"limit": 11}).json()
    assert first_11["next_cursor"] is not None
    rest = shop.get(f"/v1/members/{member_id}/entries", params={"limit": 11, "cursor": first_11["next_cursor"]})
    assert [(e["kind"], e["points"]) for e in rest.json()["entries"]] == [("action", 500)]
    newest = everything["entries"][0]
    assert (newest["kind"], newest["points"], newest["operator"], newest["reason"]) == (
        "adjust",
        11,
        "tests",
        "top-up 10",
    )


def test_review_bonuses_stop_at_the_monthly_cap(server: Server, api: Api, shop: httpx.Client) -> None:
    member_id = api.register(phone="+79121000008")
    granted = []
    for n in (1, 2):
        response = shop.post(
            "/v1/events", json={"type": "review", "event_id": f"rev-{n}", "member": {"member_id": member_id}}
        )
        assert response.status_code == 201, response.text
        granted.append(response.json())
        assert (response.json()["points"], response.json()["action"]) == (50, "review")
    before = state_snapshot(server.engine)
    third = shop.post("/v1/events", json={"type": "review", "event_id": "rev-3", "member": {"member_id": member_id}})
    problem = assert_problem(third, 409, "cap-reached")
    assert "review" in str(problem["detail"])
    assert state_snapshot(server.engine) == before
    # A retry of a granted review still answers as it did.
    again = shop.post("/v1/events", json={"type": "review", "event_id": "rev-1", "member": {"member_id": member_id}})
    assert (again.status_code, again.json()) == (201, granted[0])
    # Last month's cap is another cap.
    last_month = server.clock() - timedelta(days=40)
    earlier = shop.post(
        "/v1/events",
        json={"type": "review", "event_id": "rev-old", "member": {"card": "none"}, "occurred_at": iso(last_month)},
    )
    assert_problem(earlier, 422, "invalid-input")
    earlier = shop.post(
        "/v1/events",
        json={
            "type": "review",
            "event_id": "rev-old",
            "member": {"phone": "+79121000008"},
            "occurred_at": iso(last_month),
        },
    )
    assert earlier.status_code == 201, earlier.text
    assert api.balance(member_id)["balance"] == 650
    entries = shop.get(f"/v1/members/{member_id}/entries").json()["entries"]
    assert [(e["kind"], e["event_id"]) for e in entries[:3]] == [
        ("action", "rev-old"),
        ("action", "rev-2"),
        ("action", "rev-1"),
    ]
    problem = assert_problem(
        shop.post("/v1/events", json={"type": "selfie", "event_id": "s-1", "member": {"member_id": member_id}}),
        422,
        "invalid-input",
    )
    assert paths(problem) == {"type"}


@pytest.mark.usefixtures("shop")
def test_program_validation_versions_and_the_version_in_force(server: Server, admin: httpx.Client) -> None:
    valid = admin.post("/v1/program/validate", json={"document": SEED_PROGRAM})
    assert valid.status_code == 200, valid.text
    assert valid.json() == {
        "valid": True,
        "name": "Seed program",
        "rules": 1,
        "actions": ["registration", "review"],
        "action_caps": {
            "registration": "once per lifetime (the default when no cap is given)",
            "review": "at most 2 times per month",
        },
    }
    bad = {
        **SEED_PROGRAM,
        "currency": "ROUBLES",
        "earning": {"rules": [{"id": "base", "percent": 150}, {"id": "two", "percent": 5, "fixed_points": 5}]},
        "redemption": {"max_share_percent": 120},
    }
    before = state_snapshot(server.engine)
    for path in ("/v1/program/validate", "/v1/program/versions"):
        problem = assert_problem(admin.post(path, json={"document": bad}), 422, "invalid-input")
        assert {"currency", "earning.rules[0].percent", "redemption.max_share_percent"} <= paths(problem)
        assert any(p.startswith("earning.rules[1]") for p in paths(problem))
        reasons_ = {e["path"]: e["reason"] for e in problem["errors"]}
        assert "150" in reasons_["earning.rules[0].percent"]
    assert state_snapshot(server.engine) == before

    versions = admin.get("/v1/program/versions").json()
    assert len(versions) == 1
    assert versions[0]["version"] == 1
    assert instant(versions[0]["effective_from"]) == datetime(2025, 12, 31, 21, tzinfo=UTC)
    assert versions[0]["name"] == "Seed program"
    winter = {**SEED_PROGRAM, "name": "Winter", "earning": {"rules": [{"id": "base", "percent": 10}]}}
    published = admin.post(
        "/v1/program/versions", json={"document": winter, "effective_from": "2026-12-01T00:00:00+03:00"}
    )
    assert published.status_code == 201, published.text
    assert (published.json()["version"], published.json()["name"]) == (2, "Winter")
    assert [v["version"] for v in admin.get("/v1/program/versions").json()] == [1, 2]

    def current(at: str | None) -> httpx.Response:
        return admin.get("/v1/program/versions/current", params={"at": at} if at else None)

    assert current(None).json()["version"] == 1
    assert current("2026-11-30T23:59:59+03:00").json()["version"] == 1
    assert current("2026-11-30T21:00:00Z").json()["version"] == 2
    at_start = current("2026-12-01T00:00:00+03:00").json()
    assert (at_start["version"], at_start["name"]) == (2, "Winter")
    assert at_start["document"]["earning"]["rules"][0]["percent"] == 10
    assert current("2026-06-01T12:00:00+03:00").json()["document"]["name"] == "Seed program"
    assert_problem(current("2025-06-01T00:00:00+03:00"), 409, "no-program")
    assert paths(assert_problem(current("yesterday"), 422, "invalid-input")) == {"at"}
    assert paths(assert_problem(current("2026-12-01T00:00:00"), 422, "invalid-input")) == {"at"}
    # A version cannot take effect before the latest one.
    early = admin.post(
        "/v1/program/versions", json={"document": SEED_PROGRAM, "effective_from": "2026-11-30T00:00:00+03:00"}
    )
    assert paths(assert_problem(early, 422, "invalid-input")) == {"effective_from"}
    assert len(admin.get("/v1/program/versions").json()) == 2


def test_jobs_activate_and_expire_and_the_audit_passes(server: Server, api: Api, admin: httpx.Client) -> None:
    member_id = api.register(phone="+79121000009")
    now = server.clock()
    old = api.confirm(order_body("J-1", member_id, ("1", 1, "4000.00"), occurred_at=iso(now - timedelta(days=30))))
    recent = api.confirm(order_body("J-2", member_id, ("1", 1, "2000.00")))
    assert (old["points_to_earn"], recent["points_to_earn"]) == (200, 100)

    now = server.clock()
    activated = admin.post("/v1/jobs/activate", json={"as_of": now.isoformat()})
    assert activated.status_code == 200, activated.text
    assert activated.json()["job"] == "activate"
    assert (activated.json()["lots"], activated.json()["points"]) == (2, 700)  # registration and J-1
    assert admin.post("/v1/jobs/activate", json={"as_of": now.isoformat()}).json()["lots"] == 0
    assert admin.post("/v1/jobs/activate").json()["lots"] == 0  # as of now, by default

    nothing = admin.post("/v1/jobs/expire", json={"as_of": now.isoformat()})
    assert nothing.status_code == 200
    assert nothing.json()["points"] == 0
    assert api.balance(member_id)["balance"] == 800

    # A year and a day after J-1 (a month before the registration bonus and J-2 turn one), J-1's points expire.
    as_of = instant(str(old["points_expire_at"])) + timedelta(days=1)
    expired = admin.post("/v1/jobs/expire", json={"as_of": iso(as_of)})
    assert expired.status_code == 200, expired.text
    assert (expired.json()["job"], expired.json()["points"], expired.json()["accounts"]) == ("expire", 200, 1)
    assert admin.post("/v1/jobs/expire", json={"as_of": iso(as_of)}).json()["points"] == 0
    balance = api.balance(member_id)
    assert (balance["balance"], balance["expired_not_yet_written_off"]) == (600, 0)
    entries = api.shop.get(f"/v1/members/{member_id}/entries").json()["entries"]
    assert sorted(e["points"] for e in entries if e["kind"] == "expire") == [-200]

    audit = admin.get("/v1/audit")
    assert audit.status_code == 200
    assert audit.json()["ok"] is True, audit.json()["violations"]
    assert audit.json()["violations"] == []
    assert audit.json()["checked"]


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_health_readiness_metrics_and_request_ids(server: Server, api: Api, shop: httpx.Client) -> None:
    with server.client() as anonymous, server.client(server.analytics) as analytics:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        ready = anonymous.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok"})
        before = analytics.get("/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        confirmed_before = _metric(before.text, "loyalty_orders_confirmed_total")
        issued_before = _metric(before.text, "loyalty_points_issued_total")

        member_id = api.register(phone="+79121000010")
        order = order_body("M-1", member_id, ("1", 1, "10000.00"))
        api.confirm(order)
        api.confirm(order)  # a replay is not counted
        after = analytics.get("/metrics").text
        assert "loyalty_http_requests_total{" in after
        assert 'route="/v1/orders/confirm"' in after
        assert "loyalty_http_request_duration_seconds_bucket{" in after
        assert _metric(after, "loyalty_orders_confirmed_total") == confirmed_before + 1
        assert _metric(after, "loyalty_points_issued_total") == issued_before + 500

        # X-Request-ID: echoed when sent, made up when not, and named in every problem.
        echoed = shop.get(f"/v1/members/{member_id}", headers={"X-Request-ID": "till-7-req-0042"})
        assert echoed.headers["x-request-id"] == "till-7-req-0042"
        made_up = shop.get(f"/v1/members/{member_id}")
        assert re.fullmatch(r"[0-9a-f]{32}", made_up.headers["x-request-id"])
        assert made_up.headers["x-request-id"] != anonymous.get("/healthz").headers["x-request-id"]
        refused = anonymous.get(f"/v1/members/{member_id}", headers={"X-Request-ID": "till-7-req-0043"})
        assert refused.status_code == 401
        assert refused.headers["x-request-id"] == "till-7-req-0043"
        assert refused.json()["request_id"] == "till-7-req-0043"
        invalid = shop.post("/v1/orders/confirm", json={}, headers={"X-Request-ID": "till-7-req-0044"})
        assert invalid.json()["request_id"] == "till-7-req-0044"
        long_id = "r" * 300
        assert shop.get("/healthz", headers={"X-Request-ID": long_id}).headers["x-request-id"] == long_id[:100]
