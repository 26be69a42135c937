"""Every text the API accepts, at its longest, is stored and read back on both databases; one character more is
refused with 422 naming the field, and stores nothing. The lengths come from `loyalty.core.limits`, which the
tables are sized by: on PostgreSQL a text the API let through but a column could not hold was a 500 (a tier id of
60 characters with a multiplier failed every confirm of its members, as the ledger stores `tier:<id>`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from loyalty.core import limits
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

from .conftest import Server, state_snapshot

PROBLEM = "application/problem+json"
TIER = "t" * limits.TIER_ID
ACTION = "a" * limits.ACTION_NAME
RULE = "r" * limits.RULE_ID
PROGRAM: dict[str, Any] = {
    "name": "P" * limits.NAME,
    "currency": "RUB",
    "timezone": "UTC",
    "earning": {"rules": [{"id": RULE, "name": "R" * limits.NAME, "percent": 5}]},
    "actions": {ACTION: {"points": 10, "cap": {"count": None}}},
    "tiers": {
        "levels": [
            {"id": TIER, "name": "T" * limits.NAME, "from": "0", "multiplier": 2, "privileges": ["p" * limits.NAME]}
        ]
    },
    "referrals": {"new_member_points": 100, "referrer_points": 100},
}
# Before any date the tests may run on, and the only version: in force whatever the clock says.
EFFECTIVE = "2020-01-01T00:00:00+00:00"


def email(length: int) -> str:
    domain = "@example.com"
    return "e" * (length - len(domain)) + domain


@pytest.fixture
def admin(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.admin) as client:
        published = client.post("/v1/program/versions", json={"document": PROGRAM, "effective_from": EFFECTIVE})
        assert published.status_code == 201, published.text
        yield client


@pytest.fixture
def shop(server: Server, admin: httpx.Client) -> Iterator[httpx.Client]:  # noqa: ARG001 (admin: the program is published first)
    with server.client(server.checkout) as client:
        yield client


def refused(response: httpx.Response, path: str) -> str | None:
    """What is wrong with a refusal that should name `path`, or None."""
    if response.status_code != 422 or not response.headers["content-type"].startswith(PROBLEM):
        return f"{path}: {response.status_code} {response.text[:200]}"
    paths = [error["path"] for error in response.json().get("errors", [])]
    # A union's member may be named in the path too: "audience.Audience.tiers[0]" for "audience.tiers[0]".
    named = path in paths or path.replace("audience.", "audience.Audience.") in paths
    return None if named else f"{path}: refused naming {paths}"


def entries(shop: httpx.Client, member_id: int) -> list[dict[str, Any]]:
    response = shop.get(f"/v1/members/{member_id}/entries", params={"limit": 500})
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["entries"]
    return result


def test_a_member_at_every_limit_is_stored_and_read_back(admin: httpx.Client, shop: httpx.Client) -> None:
    current = admin.get("/v1/program/versions/current").json()
    assert current["name"] == PROGRAM["name"]
    card, external = "c" * limits.IDENTIFIER, "x" * limits.IDENTIFIER
    body = {
        "name": "N" * limits.NAME,
        "email": email(limits.IDENTIFIER),
        "card": card,
        "external_id": external,
        "consents": {"personal_data": True},
        "source": "s" * limits.CONSENT_SOURCE,
    }
    created = shop.post("/v1/members", json=body)
    assert created.status_code == 201, created.text
    member = shop.get(f"/v1/members/{created.json()['member_id']}").json()
    assert member["name"] == body["name"]
    assert member["identifiers"] == {"email": body["email"], "card": card, "external_id": external}
    assert member["consents"]["personal_data"]["source"] == body["source"]
    for kind, value in member["identifiers"].items():
        assert shop.get("/v1/members/lookup", params={kind: value}).json()["member_id"] == member["member_id"]
    renamed = shop.patch(f"/v1/members/{member['member_id']}", json={"name": "M" * limits.NAME})
    assert renamed.status_code == 200, renamed.text
    assert shop.get(f"/v1/members/{member['member_id']}").json()["name"] == "M" * limits.NAME

    # The referral code as a person may type it: the code, with spaces and dashes up to the longest accepted.
    typed = member["referral_code"].ljust(limits.REFERRAL_CODE_TYPED, "-")
    referred = shop.post("/v1/members", json={"card": "referred", "referral_code": typed})
    assert referred.status_code == 201, referred.text
    later = shop.post("/v1/members", json={"card": "referred-later"}).json()["member_id"]
    attached = shop.post(f"/v1/members/{later}/referral", json={"code": typed.replace("-", " ")})
    assert attached.status_code == 201, attached.text
    assert attached.json()["code"] == member["referral_code"]
    assert shop.get(f"/v1/members/{member['member_id']}/referrals").json()["counts"]["pending"] == 2

    tier = shop.get(f"/v1/members/{member['member_id']}/tier").json()["tier"]
    assert (tier["id"], tier["name"], tier["privileges"]) == (TIER, "T" * limits.NAME, ["p" * limits.NAME])


def test_an_order_its_return_events_and_adjustments_at_every_limit(
    server: Server, admin: httpx.Client, shop: httpx.Client
) -> None:
    card = "c" * limits.IDENTIFIER
    member_id = shop.post("/v1/members", json={"card": card}).json()["member_id"]
    order_id, line_id, sku = "O" * limits.KEY, "L" * limits.KEY, "S" * limits.SKU
    order = {
        "order_id": order_id,
        "member": {"card": card},
        "lines": [{"line_id": line_id, "sku": sku, "category": "C" * limits.CATEGORY, "price": "1000.00"}],
        "channel": "h" * limits.CHANNEL,
        "store": "s" * limits.STORE,
    }
    confirmed = shop.post("/v1/orders/confirm", json=order)
    assert confirmed.status_code == 200, confirmed.text
    # The tier's multiplier doubles the rule's 50 points: its entry's source is "tier:<id>", 64 characters.
    assert confirmed.json()["lines"][0]["earned_by"] == [
        {"rule": RULE, "points": 50},
        {"rule": f"tier:{TIER}", "points": 50},
    ]
    read = shop.get(f"/v1/orders/{order_id}").json()
    line = read["result"]["lines"][0]
    assert (line["line_id"], line["sku"], line["category"]) == (line_id, sku, "C" * limits.CATEGORY)
    assert {e["rule"] for e in read["entries"]} == {RULE, f"tier:{TIER}"}
    with UnitOfWork(server.engine, read_only=True) as uow:
        stored = uow.conn.execute(select(t.orders.c.channel, t.orders.c.store).where(t.orders.c.order_key == order_id))
        assert tuple(stored.one()) == (order["channel"], order["store"])

    return_id = "R" * limits.KEY
    returned = shop.post(
        f"/v1/orders/{order_id}/returns", json={"return_id": return_id, "lines": [{"line_id": line_id, "quantity": 1}]}
    )
    assert returned.status_code == 201, returned.text
    assert return_id in {e["return_id"] for e in shop.get(f"/v1/orders/{order_id}").json()["entries"]}
    # A cancel is recorded as the order's last return, under the order id and "#cancel".
    cancelled = shop.post(f"/v1/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert shop.get(f"/v1/orders/{order_id}").json()["status"] == "cancelled"

    event_id = "E" * limits.KEY
    event = shop.post("/v1/events", json={"type": ACTION, "event_id": event_id, "member": {"card": card}})
    assert event.status_code == 201, event.text
    viewed = shop.post("/v1/events/product-viewed", json={"member": {"card": card}, "sku": sku})
    assert (viewed.status_code, viewed.json()["sku"]) == (200, sku)

    adjustment = {"points": 5, "operator": "o" * limits.OPERATOR, "reason": "w" * limits.REASON}
    key = {"Idempotency-Key": "k" * limits.IDEMPOTENCY_KEY}
    adjusted = admin.post(f"/v1/members/{member_id}/adjustments", json=adjustment, headers=key)
    assert adjusted.status_code == 201, adjusted.text
    replayed = admin.post(f"/v1/members/{member_id}/adjustments", json=adjustment, headers=key)
    assert replayed.headers.get("idempotent-replayed") == "true"

    ledger = entries(shop, member_id)
    assert (f"action.{ACTION}", event_id) in {(e["rule"], e["event_id"]) for e in ledger}
    assert (adjustment["operator"], adjustment["reason"]) in {(e["operator"], e["reason"]) for e in ledger}


def test_segments_campaigns_and_offers_at_every_limit(admin: httpx.Client, shop: httpx.Client) -> None:
    card = "c" * limits.IDENTIFIER
    shop.post("/v1/members", json={"card": card})
    segment_id = "g" * limits.SEGMENT_ID
    segment = {"segment_id": segment_id, "name": "G" * limits.NAME, "kind": "static", "members": [{"card": card}]}
    created = admin.post("/v1/segments", json=segment)
    assert created.status_code == 201, created.text
    assert (admin.get(f"/v1/segments/{segment_id}").json()["name"], created.json()["member_count"]) == (
        segment["name"],
        1,
    )
    by_city = {"segment_id": "by-city", "name": "By city", "conditions": [{"city": "Y" * limits.NAME}]}
    assert admin.post("/v1/segments", json=by_city).status_code == 201
    assert admin.get("/v1/segments/by-city").json()["conditions"] == by_city["conditions"]

    campaign = {
        "id": "k" * limits.CAMPAIGN_ID,
        "name": "K" * limits.NAME,
        "description": "D" * limits.CAMPAIGN_DESCRIPTION,
        "starts_at": "2020-01-01",
        "audience": {"tiers": [TIER]},
        "earning": {"fixed_points": 7},
    }
    offer = {
        **campaign,
        "id": "f" * limits.CAMPAIGN_ID,
        "audience": {"segments": [segment_id]},
        "earning": {"fixed_points": 3},
    }
    for path, definition in (("/v1/campaigns", campaign), ("/v1/offers", offer)):
        response = admin.post(path, json=definition)
        assert response.status_code == 201, response.text
        view = admin.get(f"{path}/{definition['id']}").json()
        assert (view["name"], view["definition"]["description"]) == (definition["name"], definition["description"])

    order = {"order_id": "with-campaigns", "member": {"card": card}, "lines": [{"sku": "coat", "price": "1000.00"}]}
    confirmed = shop.post("/v1/orders/confirm", json=order)
    assert confirmed.status_code == 200, confirmed.text
    rules = {e["rule"] for e in shop.get("/v1/orders/with-campaigns").json()["entries"]}
    assert {f"campaign:{campaign['id']}", f"offer:{offer['id']}"} <= rules


def test_one_character_more_is_refused_naming_the_field(
    server: Server, admin: httpx.Client, shop: httpx.Client
) -> None:
    card = "c" * limits.IDENTIFIER
    member_id = shop.post("/v1/members", json={"card": card}).json()["member_id"]
    code = shop.get(f"/v1/members/{member_id}").json()["referral_code"]
    order_id, line_id = "ORDER-1", "1"
    line = {"line_id": line_id, "sku": "coat", "price": "1000.00"}
    order = {"order_id": order_id, "member": {"card": card}, "lines": [line]}
    assert shop.post("/v1/orders/confirm", json=order).status_code == 200
    before = state_snapshot(server.engine)

    def member(**fields: Any) -> httpx.Response:
        return shop.post("/v1/members", json={"card": "new-member", **fields})

    def confirm(**changes: Any) -> httpx.Response:
        return shop.post("/v1/orders/confirm", json={**order, "order_id": "ORDER-2", **changes})

    def confirm_line(**changes: Any) -> httpx.Response:
        return confirm(lines=[{**line, **changes}])

    def program(**changes: Any) -> httpx.Response:
        return admin.post("/v1/program/validate", json={"document": {**PROGRAM, **changes}})

    def level(**changes: Any) -> httpx.Response:
        return program(tiers={"levels": [{**PROGRAM["tiers"]["levels"][0], **changes}]})

    over = {name: length + 1 for name, length in vars(limits).items() if isinstance(length, int)}
    cases: list[tuple[str, httpx.Response]] = [
        ("name", member(name="N" * over["NAME"])),
        ("email", member(email=email(over["IDENTIFIER"]))),
        ("card", member(card="c" * over["IDENTIFIER"])),
        ("external_id", member(external_id="x" * over["IDENTIFIER"])),
        ("phone", member(phone="9" * over["IDENTIFIER"])),
        ("source", member(consents={"sms": True}, source="s" * over["CONSENT_SOURCE"])),
        ("referral_code", member(referral_code=code.ljust(over["REFERRAL_CODE_TYPED"], "-"))),
        ("name", shop.patch(f"/v1/members/{member_id}", json={"name": "N" * over["NAME"]})),
        ("card", shop.get("/v1/members/lookup", params={"card": "c" * over["IDENTIFIER"]})),
        (
            "code",
            shop.post(f"/v1/members/{member_id}/referral", json={"code": code.ljust(over["REFERRAL_CODE_TYPED"])}),
        ),
        ("order_id", confirm(order_id="O" * over["KEY"])),
        ("lines[0].line_id", confirm_line(line_id="L" * over["KEY"])),
        ("lines[0].sku", confirm_line(sku="S" * over["SKU"])),
        ("lines[0].category", confirm_line(category="C" * over["CATEGORY"])),
        ("channel", confirm(channel="h" * over["CHANNEL"])),
        ("store", confirm(store="s" * over["STORE"])),
        (
            "return_id",
            shop.post(
                f"/v1/orders/{order_id}/returns",
                json={"return_id": "R" * over["KEY"], "lines": [{"line_id": line_id, "quantity": 1}]},
            ),
        ),
        (
            "lines[0].line_id",
            shop.post(
                f"/v1/orders/{order_id}/returns",
                json={"return_id": "R", "lines": [{"line_id": "L" * over["KEY"], "quantity": 1}]},
            ),
        ),
        (
            "type",
            shop.post(
                "/v1/events", json={"type": "a" * over["ACTION_NAME"], "event_id": "E", "member": {"card": card}}
            ),
        ),
        (
            "event_id",
            shop.post("/v1/events", json={"type": ACTION, "event_id": "E" * over["KEY"], "member": {"card": card}}),
        ),
        ("sku", shop.post("/v1/events/product-viewed", json={"member": {"card": card}, "sku": "S" * over["SKU"]})),
        (
            "operator",
            admin.post(
                f"/v1/members/{member_id}/adjustments",
                json={"points": 5, "operator": "o" * over["OPERATOR"], "reason": "r"},
            ),
        ),
        (
            "reason",
            admin.post(
                f"/v1/members/{member_id}/adjustments",
                json={"points": 5, "operator": "o", "reason": "r" * over["REASON"]},
            ),
        ),
        (
            "Idempotency-Key",
            admin.post(
                f"/v1/members/{member_id}/adjustments",
                json={"points": 5, "operator": "o", "reason": "r"},
                headers={"Idempotency-Key": "k" * over["IDEMPOTENCY_KEY"]},
            ),
        ),
        (
            "segment_id",
            admin.post("/v1/segments", json={"segment_id": "g" * over["SEGMENT_ID"], "name": "G", "conditions": []}),
        ),
        ("name", admin.post("/v1/segments", json={"segment_id": "g", "name": "G" * over["NAME"], "conditions": []})),
        (
            "conditions[0].city",
            admin.post(
                "/v1/segments", json={"segment_id": "g", "name": "G", "conditions": [{"city": "Y" * over["NAME"]}]}
            ),
        ),
        (
            "audience.tiers[0]",
            admin.post(
                "/v1/campaigns",
                json={
                    "id": "k",
                    "name": "K",
                    "starts_at": "2020-01-01",
                    "audience": {"tiers": ["t" * over["TIER_ID"]]},
                    "earning": {"fixed_points": 1},
                },
            ),
        ),
        (
            "id",
            admin.post(
                "/v1/campaigns",
                json={
                    "id": "k" * over["CAMPAIGN_ID"],
                    "name": "K",
                    "starts_at": "2020-01-01",
                    "earning": {"fixed_points": 1},
                },
            ),
        ),
        (
            "id",
            admin.post(
                "/v1/offers",
                json={
                    "id": "f" * over["CAMPAIGN_ID"],
                    "name": "F",
                    "starts_at": "2020-01-01",
                    "audience": {"members": [{"card": card}]},
                    "earning": {"fixed_points": 1},
                },
            ),
        ),
        (
            "name",
            admin.post(
                "/v1/campaigns",
                json={"id": "k", "name": "K" * over["NAME"], "starts_at": "2020-01-01", "earning": {"fixed_points": 1}},
            ),
        ),
        (
            "description",
            admin.post(
                "/v1/campaigns",
                json={
                    "id": "k",
                    "name": "K",
                    "description": "D" * over["CAMPAIGN_DESCRIPTION"],
                    "starts_at": "2020-01-01",
                    "earning": {"fixed_points": 1},
                },
            ),
        ),
        ("name", program(name="P" * over["NAME"])),
        ("earning.rules[0].id", program(earning={"rules": [{"id": "r" * over["RULE_ID"], "percent": 5}]})),
        ("earning.rules[0].name", program(earning={"rules": [{"id": "r", "name": "R" * over["NAME"], "percent": 5}]})),
        (f"actions.{'a' * over['ACTION_NAME']}", program(actions={"a" * over["ACTION_NAME"]: {"points": 1}})),
        ("tiers.levels[0].id", level(id="t" * over["TIER_ID"])),
        ("tiers.levels[0].name", level(name="T" * over["NAME"])),
        ("tiers.levels[0].privileges", level(privileges=["p" * over["NAME"]])),
        (
            "earning.excluded_categories",
            program(earning={**PROGRAM["earning"], "excluded_categories": ["C" * over["NAME"]]}),
        ),
        ("currency", program(currency="R" * over["DOCUMENT_TEXT"])),
    ]
    failures = [problem for path, response in cases if (problem := refused(response, path))]
    assert not failures, "\n".join(failures)
    assert state_snapshot(server.engine) == before
