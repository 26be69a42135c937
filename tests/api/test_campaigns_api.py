"""Campaigns and personal offers over HTTP with the seed program (5% cashback, points from a 1,000 ₽ check, earn
or spend): the marketer's set-up, the checkout's numbers and explanation, budgets and caps under concurrency,
edits while live, and bad definitions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

from .conftest import NOW, Api, order_body

NOVEMBER = "2026-11-10T12:00:00+03:00"
COFFEE_X2 = {
    "id": "coffee-x2",
    "name": "x2 points on coffee in November",
    "starts_at": "2026-11-01",
    "ends_at": "2026-11-30",
    "earning": {"categories": ["coffee"], "multiplier": 2},
}


def coffee_order(order_id: str, member_id: int, price: str, at: str = NOVEMBER, **extra: Any) -> dict[str, Any]:
    body = order_body(order_id, member_id, ("1", 1, price), occurred_at=at, **extra)
    body["lines"][0]["category"] = "coffee"
    return body


def explanation(result: dict[str, Any], source: str) -> list[tuple[str, int]]:
    return [(r["outcome"], r["points"]) for r in result["explanation"] if r["source"] == source]


def campaign_rows(api: Api) -> int:
    with UnitOfWork(api.server.engine, read_only=True) as uow:
        return int(uow.conn.execute(select(func.count()).select_from(t.campaigns)).scalar_one())


def test_x2_points_on_coffee_in_november_is_one_campaign(api: Api) -> None:
    created = api.admin.post("/v1/campaigns", json=COFFEE_X2)
    assert created.status_code == 201, created.text
    assert (created.json()["revision"], created.json()["kind"]) == (1, "campaign")
    member = api.register(phone="+79990000001")

    quoted = api.shop.post("/v1/orders/calculate", json=coffee_order("q-1", member, "1000.00"))
    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["points_to_earn"] == 100
    assert explanation(quoted.json(), "campaign:coffee-x2") == [("applied", 50)]
    assert quoted.json()["lines"][0]["earned_by"] == [
        {"rule": "base", "points": 50},
        {"rule": "campaign:coffee-x2", "points": 50},
    ]

    confirmed = api.confirm(coffee_order("o-1", member, "1000.00"))
    assert confirmed["points_to_earn"] == 100
    entries = api.shop.get("/v1/orders/o-1").json()["entries"]
    assert {(e["rule"], e["points"]) for e in entries} == {("base", 50), ("campaign:coffee-x2", 50)}
    october = api.confirm(coffee_order("o-2", member, "1000.00", at="2026-10-31T23:59:59+03:00"))
    assert october["points_to_earn"] == 50
    first_minute = api.confirm(coffee_order("o-3", member, "1000.00", at="2026-11-01T00:00:00+03:00"))
    assert first_minute["points_to_earn"] == 100

    with api.server.client(api.server.analytics) as analytics:
        view = analytics.get("/v1/campaigns/coffee-x2").json()
        assert (view["points_given"], view["members_rewarded"]) == (100, 1)
        assert [c["id"] for c in analytics.get("/v1/campaigns").json()["campaigns"]] == ["coffee-x2"]
        assert analytics.post("/v1/campaigns", json={**COFFEE_X2, "id": "other"}).status_code == 403
    assert api.admin.post("/v1/campaigns", json=COFFEE_X2).status_code == 409


def test_the_seed_offer_for_guests_who_usually_spend_800_roubles(api: Api) -> None:
    anna = api.register(phone="+79990000001")
    boris = api.register(phone="+79990000002")
    api.confirm(order_body("a-1", anna, ("1", 1, "750.00"), occurred_at="2026-10-01T12:00:00+03:00"))
    api.confirm(order_body("a-2", anna, ("1", 1, "850.00"), occurred_at="2026-10-08T12:00:00+03:00"))
    api.confirm(order_body("b-1", boris, ("1", 1, "3000.00"), occurred_at="2026-10-01T12:00:00+03:00"))
    segment = {
        "segment_id": "check-800",
        "name": "Usually about 800 ₽",
        "conditions": [{"average_check": {"min": "700", "max": "900"}}],
    }
    assert api.admin.post("/v1/segments", json=segment).status_code == 201
    offer = {
        "id": "check-800-to-1000",
        "name": "10% instead of 5% from 1,000 ₽",
        "description": "Raise the average check",
        "starts_at": "2026-11-01",
        "ends_at": "2026-12-31",
        "audience": {"segments": ["check-800"]},
        "earning": {"percent": 10, "min_order_amount": "1000"},
        "stacking": "best",
    }
    created = api.admin.post("/v1/offers", json=offer)
    assert created.status_code == 201, created.text

    seen = api.shop.get(f"/v1/members/{anna}/offers").json()["offers"]
    assert [(o["id"], o["benefit"]) for o in seen] == [("check-800-to-1000", "10% of the eligible amount")]
    assert api.shop.get(f"/v1/members/{boris}/offers").json()["offers"] == []
    token = api.shop.post(f"/v1/members/{anna}/token").json()["token"]
    with httpx.Client(base_url=api.server.url, headers={"Authorization": f"Bearer {token}"}) as member:
        assert member.get(f"/v1/members/{anna}/offers").json()["offers"][0]["id"] == "check-800-to-1000"
        assert member.get(f"/v1/members/{boris}/offers").status_code == 403

    for_anna = api.confirm(order_body("a-3", anna, ("1", 1, "1200.00"), occurred_at=NOVEMBER))
    assert for_anna["points_to_earn"] == 120  # 10%, not 5% + 10%
    assert explanation(for_anna, "offer:check-800-to-1000") == [("applied", 120)]
    assert [e["rule"] for e in api.shop.get("/v1/orders/a-3").json()["entries"]] == ["offer:check-800-to-1000"]
    small = api.shop.post(
        "/v1/orders/calculate", json=order_body("a-4", anna, ("1", 1, "900.00"), occurred_at=NOVEMBER)
    ).json()
    assert small["points_to_earn"] == 45
    assert explanation(small, "offer:check-800-to-1000")[0][0] == "blocked"
    for_boris = api.confirm(order_body("b-2", boris, ("1", 1, "1200.00"), occurred_at=NOVEMBER))
    assert for_boris["points_to_earn"] == 60
    assert explanation(for_boris, "offer:check-800-to-1000") == []


def test_an_offer_to_a_list_of_members(api: Api) -> None:
    anna = api.register(phone="+79990000001")
    boris = api.register(phone="+79990000002")
    offer = {
        "id": "vip",
        "name": "200 points on your next order",
        "starts_at": "2026-11-01",
        "audience": {"members": [{"phone": "+79990000001"}]},
        "earning": {"fixed_points": 200},
    }
    created = api.admin.post("/v1/offers", json=offer)
    assert created.status_code == 201, created.text
    assert created.json()["members_listed"] == 1
    assert api.confirm(order_body("a-1", anna, ("1", 1, "100.00"), occurred_at=NOVEMBER))["points_to_earn"] == 205
    assert api.confirm(order_body("b-1", boris, ("1", 1, "100.00"), occurred_at=NOVEMBER))["points_to_earn"] == 5
    # The list is replaced with the definition.
    changed = api.admin.put("/v1/offers/vip", json={**offer, "audience": {"members": [{"member_id": boris}]}})
    assert changed.status_code == 200, changed.text
    assert api.shop.get(f"/v1/members/{anna}/offers").json()["offers"] == []
    assert [o["id"] for o in api.shop.get(f"/v1/members/{boris}/offers").json()["offers"]] == ["vip"]


def test_a_campaign_edited_while_live_never_changes_points_already_given(api: Api) -> None:
    assert api.admin.post("/v1/campaigns", json=COFFEE_X2).status_code == 201
    member = api.register(phone="+79990000001")
    first = api.confirm(coffee_order("o-1", member, "2000.00"))
    assert first["points_to_earn"] == 200
    changed = api.admin.put(
        "/v1/campaigns/coffee-x2", json={**COFFEE_X2, "earning": {"categories": ["coffee"], "multiplier": 3}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["revision"] == 2
    second = api.confirm(coffee_order("o-2", member, "2000.00"))
    assert second["points_to_earn"] == 300
    # The first order keeps what it got; returning it takes back exactly that.
    assert api.shop.get("/v1/orders/o-1").json()["result"]["points_to_earn"] == 200
    entries = {e["rule"]: e for e in api.shop.get("/v1/orders/o-1").json()["entries"]}
    assert entries["campaign:coffee-x2"]["points"] == 100
    assert entries["campaign:coffee-x2"]["details"] == {"campaign_revision": 1}
    returned = api.shop.post(
        "/v1/orders/o-1/returns", json={"return_id": "r-1", "lines": [{"line_id": "1", "quantity": 1}]}
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["points_taken_back"] == 200
    with api.server.client(api.server.analytics) as analytics:
        history = analytics.get("/v1/campaigns/coffee-x2/revisions").json()["revisions"]
    assert [r["revision"] for r in history] == [1, 2]
    assert history[0]["definition"]["earning"]["multiplier"] == 2


def test_a_budget_holds_exactly_under_concurrent_confirms(api: Api) -> None:
    campaign = {
        "id": "first-come",
        "name": "30 points per order while the budget lasts",
        "starts_at": "2026-11-01",
        "earning": {"fixed_points": 30},
        "budget_points": 100,
    }
    assert api.admin.post("/v1/campaigns", json=campaign).status_code == 201
    members = [api.register(phone=f"+7999000{i:04d}") for i in range(8)]

    def confirm(i: int) -> dict[str, Any]:
        with api.server.client(api.server.checkout) as client:
            body = order_body(f"o-{i}", members[i], ("1", 1, "100.00"), occurred_at=NOVEMBER)
            response = client.post("/v1/orders/confirm", json=body)
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(confirm, range(8)))
    given = sorted(sum(p for o, p in explanation(r, "campaign:first-come") if o == "applied") for r in results)
    assert sum(given) == 100
    assert given[-4:] == [10, 30, 30, 30] and given[:-4] == [0, 0, 0, 0]
    with api.server.client(api.server.analytics) as analytics:
        view = analytics.get("/v1/campaigns/first-come").json()
    assert (view["points_given"], view["budget_left"]) == (100, 0)
    # The budget cannot be set below what was given.
    lowered = api.admin.put("/v1/campaigns/first-come", json={**campaign, "budget_points": 50})
    assert lowered.status_code == 422
    assert lowered.json()["errors"][0]["path"] == "budget_points"
    audit = api.admin.get("/v1/audit").json()
    assert audit["ok"] is True, audit["violations"]


def test_a_per_member_cap_holds_under_concurrent_confirms_of_one_member(api: Api) -> None:
    campaign = {
        "id": "capped",
        "name": "30 points per order, at most 50 per member",
        "starts_at": "2026-11-01",
        "earning": {"fixed_points": 30},
        "per_member_cap_points": 50,
    }
    assert api.admin.post("/v1/campaigns", json=campaign).status_code == 201
    member = api.register(phone="+79990000001")

    def confirm(i: int) -> int:
        with api.server.client(api.server.checkout) as client:
            body = order_body(f"o-{i}", member, ("1", 1, "100.00"), occurred_at=NOVEMBER)
            response = client.post("/v1/orders/confirm", json=body)
            assert response.status_code == 200, response.text
            return sum(p for o, p in explanation(response.json(), "campaign:capped") if o == "applied")

    with ThreadPoolExecutor(max_workers=5) as pool:
        given = sorted(pool.map(confirm, range(5)))
    assert given == [0, 0, 0, 20, 30]
    later = api.shop.post(
        "/v1/orders/calculate", json=order_body("o-9", member, ("1", 1, "100.00"), occurred_at=NOVEMBER)
    ).json()
    assert explanation(later, "campaign:capped") == [("limited", 0)]


def test_a_redemption_campaign_lets_points_pay_from_a_lower_check(api: Api) -> None:
    member = api.register(phone="+79990000001")  # 500 welcome points, spendable at once
    today = NOW.astimezone(ZoneInfo("Europe/Moscow"))
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    on_today = {
        "id": "low-check-day",
        "name": "Points pay from 500 ₽ today",
        "starts_at": "2026-01-01",
        "days_of_week": [days[today.weekday()]],
        "redemption": {"min_check": "500"},
    }
    assert api.admin.post("/v1/campaigns", json=on_today).status_code == 201
    order = order_body("o-1", member, ("1", 1, "800.00"), points=300)
    quoted = api.shop.post("/v1/orders/calculate", json=order).json()
    assert (quoted["points_applied"], explanation(quoted, "campaign:low-check-day")) == (300, [("applied", 0)])
    other_day = {**on_today, "days_of_week": [days[(today.weekday() + 3) % 7]]}
    assert api.admin.put("/v1/campaigns/low-check-day", json=other_day).status_code == 200
    quoted = api.shop.post("/v1/orders/calculate", json=order).json()
    assert quoted["points_applied"] == 0  # the program's 1,000 ₽ minimum check again


def test_bad_definitions_name_the_field_and_store_nothing(api: Api) -> None:
    api.register(phone="+79990000001")
    cases = [
        ({**COFFEE_X2, "ends_at": "2026-10-01"}, "ends_at"),
        ({**COFFEE_X2, "budget_points": -1}, "budget_points"),
        ({**COFFEE_X2, "audience": {"segments": ["nobody"]}}, "audience.segments[0]"),
        ({**COFFEE_X2, "audience": {"tiers": ["gold"]}}, "audience.tiers"),
        ({**COFFEE_X2, "audience": {"members": [{"phone": "+79990009999"}]}}, "audience.members[0].phone"),
        ({**COFFEE_X2, "earning": {"categories": ["coffee"], "percent": 5, "multiplier": 2}}, "earning"),
        ({**COFFEE_X2, "stacking": "best"}, "stacking"),
        ({**COFFEE_X2, "starts_at": "someday"}, "starts_at"),
        ({**COFFEE_X2, "id": "Not An Id"}, "id"),
    ]
    for definition, path in cases:
        response = api.admin.post("/v1/campaigns", json=definition)
        assert response.status_code == 422, (definition, response.text)
        assert path in [e["path"] for e in response.json()["errors"]], (path, response.json())
    everyone = api.admin.post("/v1/offers", json={**COFFEE_X2, "audience": "everyone"})
    assert everyone.status_code == 422
    assert everyone.json()["errors"][0]["path"] == "audience"
    assert campaign_rows(api) == 0
    assert api.admin.put("/v1/campaigns/missing", json=COFFEE_X2).status_code == 404
    assert api.admin.put("/v1/offers/coffee-x2", json=COFFEE_X2).status_code == 404


def test_the_explanation_names_a_line_by_the_caller_line_id(api: Api) -> None:
    member_id = api.register(phone="+79990000002")
    best = {
        "id": "coffee-20",
        "name": "20% on coffee",
        "starts_at": "2026-11-01",
        "ends_at": "2026-11-30",
        "stacking": "best",
        "earning": {"categories": ["coffee"], "percent": 20},
    }
    assert api.admin.post("/v1/campaigns", json=best).status_code == 201
    order = order_body("EXPLAIN-1", member_id, ("tea-1", 1, "1000.00"), ("cup-7", 1, "1500.00"), occurred_at=NOVEMBER)
    order["lines"][1]["category"] = "coffee"
    quote = api.shop.post("/v1/orders/calculate", json=order)
    assert quote.status_code == 200, quote.text
    stacking = [r["message"] for r in quote.json()["explanation"] if r["source"] == "stacking"]
    assert stacking == ["line cup-7: 20% on coffee gives more than base, which it replaces"]

    for line in order["lines"]:
        del line["line_id"]
    by_position = api.shop.post("/v1/orders/calculate", json=order).json()
    assert [r["message"] for r in by_position["explanation"] if r["source"] == "stacking"] == [
        "line 2: 20% on coffee gives more than base, which it replaces"
    ]


def test_a_multiplier_out_of_range_gets_one_reason_whatever_side_it_is_on(api: Api) -> None:
    reasons = {}
    for multiplier in ("1", "0.5", "100.01"):
        definition = {**COFFEE_X2, "earning": {"categories": ["coffee"], "multiplier": multiplier}}
        response = api.admin.post("/v1/campaigns", json=definition)
        assert response.status_code == 422, response.text
        (error,) = response.json()["errors"]
        assert error["path"] == "earning.multiplier"
        reasons[multiplier] = error["reason"]
    rule = "must be more than 1 (x1 adds nothing) and at most 100"
    assert reasons == {m: f"{rule}, got {m}" for m in ("1", "0.5", "100.01")}
    top = {**COFFEE_X2, "earning": {"categories": ["coffee"], "multiplier": "100"}}
    assert api.admin.post("/v1/campaigns", json=top).status_code == 201
    assert campaign_rows(api) == 1


def test_a_tier_audience_includes_members_at_the_base_level(api: Api) -> None:
    from .conftest import SEED_PROGRAM

    tiered = {
        **SEED_PROGRAM,
        "tiers": {
            "levels": [
                {"id": "silver", "name": "Silver", "from": "0"},
                {"id": "gold", "name": "Gold", "from": "15000"},
            ]
        },
    }
    published = api.admin.post(
        "/v1/program/versions", json={"document": tiered, "effective_from": "2026-02-01T00:00:00+03:00"}
    )
    assert published.status_code == 201, published.text
    campaign = {
        "id": "silver-welcome",
        "name": "50 points for Silver",
        "starts_at": "2026-11-01",
        "audience": {"tiers": ["silver"]},
        "earning": {"fixed_points": 50},
    }
    assert api.admin.post("/v1/campaigns", json=campaign).status_code == 201
    member = api.register(phone="+79990000001")  # never ordered: no stored tier, the base level
    quoted = api.shop.post(
        "/v1/orders/calculate", json=order_body("o-1", member, ("1", 1, "100.00"), occurred_at=NOVEMBER)
    ).json()
    assert explanation(quoted, "campaign:silver-welcome") == [("applied", 50)]


def test_campaigns_kept_in_the_program_document_are_applied_when_it_is_published(api: Api) -> None:
    from .conftest import SEED_PROGRAM

    bad = {**SEED_PROGRAM, "campaigns": [{**COFFEE_X2, "budget_points": -1}]}
    refused = api.admin.post("/v1/program/validate", json={"document": bad})
    assert refused.status_code == 422
    assert [e["path"] for e in refused.json()["errors"]] == ["campaigns[0].budget_points"]

    with_campaign = {**SEED_PROGRAM, "campaigns": [COFFEE_X2]}
    published = api.admin.post(
        "/v1/program/versions", json={"document": with_campaign, "effective_from": "2026-02-01T00:00:00+03:00"}
    )
    assert published.status_code == 201, published.text
    member = api.register(phone="+79990000001")
    assert api.confirm(coffee_order("o-1", member, "1000.00"))["points_to_earn"] == 100
    with api.server.client(api.server.analytics) as analytics:
        assert analytics.get("/v1/campaigns/coffee-x2").json()["revision"] == 1
    # Publishing it again in a later version leaves the campaign as it is.
    again = api.admin.post(
        "/v1/program/versions", json={"document": with_campaign, "effective_from": "2026-03-01T00:00:00+03:00"}
    )
    assert again.status_code == 201, again.text
    with api.server.client(api.server.analytics) as analytics:
        assert analytics.get("/v1/campaigns/coffee-x2").json()["revision"] == 1
