"""Experiments over HTTP with the seed program (5% cashback from a 1,000 ₽ check): a holdout's control group earns
nothing at the checkout and is told why, a campaigns holdout loses only the campaign, a split by city withholds the
program in the control city's stores, the report shows the groups, and bad definitions are 422 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loyalty.experiments.model import in_holdout

from .conftest import SEED_PROGRAM, Api, order_body

NOVEMBER = "2026-11-10T12:00:00+03:00"
HOLDOUT = {
    "experiment_id": "holdout-q4",
    "name": "Half of the members without the program",
    "kind": "holdout",
    "withholds": "program",
    "starts_at": "2026-11-01",
    "ends_at": "2026-12-01",
    "share": "0.5",
    "seed": 42,
}


def reasons(result: dict[str, Any], source: str) -> list[dict[str, Any]]:
    return [r for r in result["explanation"] if r["source"] == source]


def test_a_holdout_member_earns_nothing_and_the_report_shows_the_groups(api: Api) -> None:
    members = [api.register(phone=f"+7999000{i:04d}") for i in range(12)]
    held = [m for m in members if in_holdout(42, Decimal("0.5"), m)]
    kept = [m for m in members if m not in held]
    assert held and kept  # twelve draws of a fair coin: both sides are there (checked for seed 42)
    created = api.admin.post("/v1/analytics/experiments", json=HOLDOUT)
    assert created.status_code == 201, created.text
    assert (created.json()["share"], created.json()["seed"]) == ("0.5", 42)
    assert created.json()["starts_at"] == "2026-10-31T21:00:00+00:00"  # 1 November in Moscow, shown in UTC

    quoted = api.shop.post(
        "/v1/orders/calculate", json=order_body("q-1", held[0], ("1", 1, "2000.00"), occurred_at=NOVEMBER)
    )
    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["points_to_earn"] == 0
    [reason] = reasons(quoted.json(), "experiment:holdout-q4")
    assert reason["outcome"] == "blocked" and "control group of experiment holdout-q4" in reason["message"]

    for i, member in enumerate(members):
        result = api.confirm(order_body(f"o-{i}", member, ("1", 1, "2000.00"), occurred_at=NOVEMBER))
        assert result["points_to_earn"] == (0 if member in held else 100), (member, result)
    # Before the experiment, the held-out member earned as anyone does.
    october = api.confirm(order_body("before", held[0], ("1", 1, "2000.00"), occurred_at="2026-10-20T12:00:00+03:00"))
    assert october["points_to_earn"] == 100
    # A held-out member with points cannot pay with them while it lasts.
    api.give(held[0], 1000)
    paid = api.confirm(order_body("pay", held[0], ("1", 1, "2000.00"), points=500, occurred_at=NOVEMBER))
    assert (paid["points_applied"], paid["points_to_earn"]) == (0, 0)
    assert "500 points were asked for, none can pay" in reasons(paid, "experiment:holdout-q4")[0]["message"]
    assert api.balance(held[0])["balance"] == 500 + 100 + 1000  # registration, October and the adjustment only

    with api.server.client(api.server.analytics) as analytics:
        listed = analytics.get("/v1/analytics/experiments")
        assert [e["experiment_id"] for e in listed.json()["experiments"]] == ["holdout-q4"]
        assert analytics.get("/v1/analytics/experiments/holdout-q4").json() == created.json()
        response = analytics.get("/v1/analytics/experiments/holdout-q4/report")
        assert response.status_code == 200, response.text
        assert analytics.post("/v1/analytics/experiments", json={**HOLDOUT, "experiment_id": "x"}).status_code == 403
        assert analytics.get("/v1/analytics/experiments/nothing/report").status_code == 404
    report = response.json()
    assert report["groups"]["treatment"]["customers"] == len(kept)
    assert report["groups"]["control"]["customers"] == len(held)
    assert report["groups"]["control"]["orders"] == len(held) + 1  # and the order paid without points
    assert report["groups"]["control"]["pre_period_orders"] == 1  # the October order
    spend = report["metrics"]["spend_per_customer"]
    assert spend["treatment"]["mean"] == "2000.00"
    assert spend["control"]["units"] == len(held)
    assert report["metrics"]["orders_per_customer"]["verdict"] in ("significant", "not significant")
    assert report["metrics"]["average_check"]["treatment"]["mean"] == "2000.00"
    assert report["metrics"]["average_check"]["verdict"] == "not significant"  # every check is 2,000 ₽
    assert report["store_weeks"] is None


def test_a_campaigns_holdout_loses_the_campaign_and_keeps_the_program(api: Api) -> None:
    members = [api.register(phone=f"+7999100{i:04d}") for i in range(8)]
    campaign = {
        "id": "x2",
        "name": "x2 points in November",
        "starts_at": "2026-11-01",
        "ends_at": "2026-11-30",
        "earning": {"multiplier": 2},
    }
    assert api.admin.post("/v1/campaigns", json=campaign).status_code == 201
    body = {**HOLDOUT, "experiment_id": "no-campaigns", "withholds": "campaigns", "seed": 7}
    assert api.admin.post("/v1/analytics/experiments", json=body).status_code == 201
    for i, member in enumerate(members):
        result = api.confirm(order_body(f"c-{i}", member, ("1", 1, "2000.00"), occurred_at=NOVEMBER))
        held = in_holdout(7, Decimal("0.5"), member)
        assert result["points_to_earn"] == (100 if held else 200), (member, result)
        assert bool(reasons(result, "experiment:no-campaigns")) is held


def test_a_split_by_city_withholds_the_program_in_the_control_city(api: Api) -> None:
    for store, city in (("msk-1", "Moscow"), ("msk-2", "Moscow"), ("tver-1", "Tver")):
        assert api.admin.put(f"/v1/stores/{store}", json={"city": city}).status_code == 200
    body = {
        "experiment_id": "chicken-club",
        "name": "The program in Moscow, not in Tver",
        "kind": "cities",
        "starts_at": "2026-11-01",
        "ends_at": "2026-12-01",
        "treatment": ["Moscow"],
        "control": ["Tver"],
    }
    assert api.admin.post("/v1/analytics/experiments", json=body).status_code == 201, body
    anna, boris = api.register(phone="+79992000001"), api.register(phone="+79992000002")
    moscow = api.confirm(order_body("m-1", anna, ("1", 1, "2000.00"), store="msk-2", occurred_at=NOVEMBER))
    tver = api.confirm(order_body("t-1", boris, ("1", 1, "2000.00"), store="tver-1", occurred_at=NOVEMBER))
    assert (moscow["points_to_earn"], tver["points_to_earn"]) == (100, 0)
    assert reasons(tver, "experiment:chicken-club")
    # A store registered in Tver after the experiment began is part of it at once.
    api.admin.put("/v1/stores/tver-2", json={"city": "Tver"})
    late = api.confirm(order_body("t-2", anna, ("1", 1, "2000.00"), store="tver-2", occurred_at=NOVEMBER))
    assert late["points_to_earn"] == 0
    api.confirm(order_body("n-1", None, ("1", 1, "3000.00"), store="tver-1", occurred_at=NOVEMBER))

    with api.server.client(api.server.analytics) as analytics:
        report = analytics.get("/v1/analytics/experiments/chicken-club/report").json()
    # Anna ordered once in Moscow and once in Tver: a tie, which goes to the name first in order (Moscow).
    assert (report["groups"]["treatment"]["customers"], report["groups"]["control"]["customers"]) == (1, 1)
    assert report["groups"]["treatment"]["orders"] == 2  # all of Anna's orders count, wherever she bought
    weeks = report["store_weeks"]
    assert (weeks["weeks"], weeks["treatment_stores"], weeks["control_stores"]) == (4, 2, 2)
    # Tver's stores sold 3 orders (one a non-member's) in the 8 store-weeks of the period: 0.375 a store-week.
    assert weeks["orders_per_store_week"]["control"]["mean"] == "0.3750"
    assert weeks["orders_per_store_week"]["treatment"] == {"units": 8, "mean": "0.1250"}


def test_bad_definitions_are_422_naming_the_field(api: Api) -> None:
    api.admin.put("/v1/stores/msk-1", json={"city": "Moscow"})
    cases = [
        ({**HOLDOUT, "share": "0.6"}, ["share"]),
        ({**HOLDOUT, "share": "0"}, ["share"]),
        ({**HOLDOUT, "segment": "nobody"}, ["segment"]),
        ({**HOLDOUT, "ends_at": "2026-10-01"}, ["ends_at"]),
        ({**HOLDOUT, "kind": "coin"}, ["kind"]),
        (
            {**HOLDOUT, "kind": "cities", "share": None, "treatment": ["Moscow"], "control": ["Atlantis"]},
            ["control[0]"],
        ),
        (
            {**HOLDOUT, "kind": "stores", "share": None, "treatment": ["msk-1"], "control": ["msk-1"]},
            ["control"],
        ),
    ]
    for body, paths in cases:
        response = api.admin.post("/v1/analytics/experiments", json={k: v for k, v in body.items() if v is not None})
        assert response.status_code == 422, (body, response.text)
        assert [e["path"] for e in response.json()["errors"]] == paths, response.text
    with api.server.client(api.server.analytics) as analytics:
        assert analytics.get("/v1/analytics/experiments").json()["experiments"] == []
    assert api.admin.post("/v1/analytics/experiments", json=HOLDOUT).status_code == 201
    assert api.admin.post("/v1/analytics/experiments", json=HOLDOUT).status_code == 409


def test_the_sample_size_calculator(api: Api) -> None:
    with api.server.client(api.server.analytics) as analytics:
        planned = analytics.get(
            "/v1/analytics/sample-size", params={"baseline_mean": "100", "sd": "30", "effect": "0.05"}
        )
        assert planned.status_code == 200, planned.text
        assert (planned.json()["per_group"], planned.json()["total"]) == (566, 1132)
        bad = analytics.get(
            "/v1/analytics/sample-size", params={"baseline_mean": "100", "sd": "30", "effect": "0.05", "power": "1.2"}
        )
        assert bad.status_code == 422
        assert [e["path"] for e in bad.json()["errors"]] == ["power"]


TIERED_PROGRAM = {
    **SEED_PROGRAM,
    "tiers": {
        "levels": [
            {"id": "silver", "name": "Silver", "from": "0"},
            {"id": "gold", "name": "Gold", "from": "15000", "multiplier": "1.5"},
        ]
    },
}
PROGRAM_HOLDOUT = {**HOLDOUT, "experiment_id": "no-program", "seed": 7}


def test_a_program_holdout_gets_no_action_bonus_and_no_tier_over_http_until_it_ends(api: Api) -> None:
    published = api.admin.post(
        "/v1/program/versions", json={"document": TIERED_PROGRAM, "effective_from": "2026-10-01T00:00:00+03:00"}
    )
    assert published.status_code == 201, published.text
    assert api.admin.post("/v1/analytics/experiments", json=PROGRAM_HOLDOUT).status_code == 201
    members = [api.register(phone=f"+7999300{i:04d}") for i in range(8)]  # now: 20 November, while it runs
    held = [m for m in members if in_holdout(7, Decimal("0.5"), m)]
    kept = [m for m in members if m not in held]
    assert held and kept  # eight draws (checked for seed 7)
    for member in members:
        assert api.balance(member)["balance"] == (0 if member in held else 500)  # the registration bonus

        event = {"type": "review", "event_id": f"review-{member}", "member": {"member_id": member}}
        response = api.shop.post("/v1/events", json=event)
        assert response.status_code == 201, response.text
        result = response.json()
        if member in held:
            assert (result["points"], result["entry_no"], result["available_at"]) == (0, None, None)
            assert result["withheld_by"] == "experiment:no-program"
            assert "control group of experiment no-program" in result["reason"]
            assert "review bonus withheld" in result["reason"]
        else:
            assert result["points"] == 50 and result["withheld_by"] is None and result["entry_no"] is not None

        confirmed = api.confirm(order_body(f"o-{member}", member, ("1", 1, "20000.00")))
        assert confirmed["points_to_earn"] == (0 if member in held else 1000)
        tier = api.shop.get(f"/v1/members/{member}/tier").json()
        assert tier["tier"]["id"] == ("silver" if member in held else "gold"), tier
        assert tier["qualifying_value"] == ("0.00" if member in held else "20000.00")

    job = api.admin.post("/v1/jobs/tiers", json={"as_of": "2026-11-25"})
    assert job.status_code == 200, job.text
    assert (job.json()["held"], job.json()["upgraded"]) == (len(held), 0)

    api.server.clock.at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # the experiment is over
    for member in held:
        event = {"type": "review", "event_id": f"december-{member}", "member": {"member_id": member}}
        assert api.shop.post("/v1/events", json=event).json()["points"] == 50
        # Still Silver: the order held out of the program counts for nothing, then or later.
        assert api.shop.get(f"/v1/members/{member}/tier").json()["tier"]["id"] == "silver"
    assert api.admin.post("/v1/jobs/tiers", json={}).json()["held"] == 0
    late = api.confirm(order_body("late", held[0], ("1", 1, "15000.00")))
    assert late["points_to_earn"] == 750
    assert api.shop.get(f"/v1/members/{held[0]}/tier").json()["tier"]["id"] == "gold"


def test_a_campaigns_holdout_still_gets_the_programs_action_bonuses_over_http(api: Api) -> None:
    body = {**HOLDOUT, "experiment_id": "no-campaigns", "withholds": "campaigns", "seed": 7}
    assert api.admin.post("/v1/analytics/experiments", json=body).status_code == 201
    members = [api.register(phone=f"+7999400{i:04d}") for i in range(8)]
    held = [m for m in members if in_holdout(7, Decimal("0.5"), m)]
    assert held
    for member in held:
        assert api.balance(member)["balance"] == 500
        event = {"type": "review", "event_id": f"review-{member}", "member": {"member_id": member}}
        result = api.shop.post("/v1/events", json=event).json()
        assert (result["points"], result["withheld_by"]) == (50, None)
