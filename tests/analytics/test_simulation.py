"""The economics simulator over a small history worked out by hand.

Stored (the program in force): 5% cashback, points spendable at once, no expiry, no registration bonus.

    member c1  order A 01-10 1,000.00 (+50)   order B 03-05 2,000.00 (+100)
    member c2  order C 02-20   500.00 (+25)
    non-member order D 02-01   300.00

Simulated: 10% cashback, points burning 30 days after they are earned, nobody paying with points.

    01: A earns 100                               liability 100
    02: C earns 50; A's 100 burn 02-09           liability 50
    03: B earns 200; C's 50 burn 03-22           liability 200 (B's burn 04-04, after the period)"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from loyalty.analytics import simulation
from loyalty.campaigns import service as campaigns
from loyalty.checkout import imports
from loyalty.checkout.requests import parse_order
from loyalty.core.errors import InvalidInput
from loyalty.members import service as members
from loyalty.segments import service as segments
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from tests.usecases import NOW, publish, read, run

START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
STORED = {
    "name": "Stored",
    "currency": "RUB",
    "timezone": "UTC",
    "earning": {"pending_days": 0, "rules": [{"id": "base", "name": "5%", "percent": 5}]},
    "redemption": {"max_share_percent": 50},
}
DRAFT = {
    **STORED,
    "name": "Draft",
    "earning": {"pending_days": 0, "rules": [{"id": "base", "name": "10%", "percent": 10}]},
}
DRAFT["expiry"] = {"after_days": 30}


def history(engine: Engine) -> None:
    publish(engine, STORED, effective_from=datetime(2025, 12, 1, tzinfo=UTC))
    rows = [("A", "c1", "2026-01-10T12:00:00+00:00", "1000"), ("D", None, "2026-02-01T12:00:00+00:00", "300")]
    rows += [("C", "c2", "2026-02-20T12:00:00+00:00", "500"), ("B", "c1", "2026-03-05T12:00:00+00:00", "2000")]
    requests = []
    for n, (key, member, at, price) in enumerate(rows):
        data: dict[str, Any] = {
            "order_id": key,
            "occurred_at": at,
            "lines": [{"sku": "x", "quantity": 1, "price": price}],
        }
        if member:
            data["member"] = {"external_id": member}
        requests.append((n + 1, parse_order(data, NOW), member))
    imports.import_orders(engine, requests, NOW, create_members=True)


def simulate(engine: Engine, document: dict[str, Any], behaviour: simulation.Behaviour | None = None) -> Any:
    with UnitOfWork(engine, snapshot=True) as uow:
        return simulation.simulate(uow, document, START, END, NOW, behaviour)


def month(report: dict[str, Any], key: str, column: str) -> dict[str, Any]:
    return next(m[column] for m in report["months"] if m["month"] == key)


def test_a_draft_replayed_over_the_history_month_by_month(engine: Engine) -> None:
    history(engine)
    nobody = simulation.Behaviour(Decimal(0), Decimal(0))
    report = simulate(engine, DRAFT, nobody)
    assert [m["month"] for m in report["months"]] == ["2026-01", "2026-02", "2026-03"]
    simulated = [
        (m["simulated"]["points_issued"], m["simulated"]["points_expired"], m["simulated"]["liability_points"])
        for m in report["months"]
    ]
    assert simulated == [(100, 0, 100), (50, 100, 50), (200, 50, 200)]
    actual = [(m["actual"]["points_issued"], m["actual"]["liability_points"]) for m in report["months"]]
    assert actual == [(50, 50), (25, 75), (100, 175)]
    assert [m["simulated"]["revenue"] for m in report["months"]] == ["1000.00", "800.00", "2000.00"]
    assert [m["simulated"]["orders"] for m in report["months"]] == [1, 2, 1]
    assert [m["simulated"]["issued_cost_share"] for m in report["months"]] == ["0.1000", "0.0625", "0.1000"]
    assert report["total"]["simulated"]["points_issued"] == 350
    assert report["total"]["simulated"]["liability_money"] == "200.00"
    assert report["total"]["actual"]["program_cost_share"] == "0.0000"


def test_members_who_redeem_spend_what_the_draft_allows(engine: Engine) -> None:
    history(engine)
    keeping = {**DRAFT, "expiry": {"after_days": 365}}
    everyone = simulation.Behaviour(Decimal(1), Decimal(1))
    report = simulate(engine, keeping, everyone)
    # B (2,000.00, half payable with points) spends the 100 points A earned; A and C had nothing to spend yet.
    assert [month(report, m, "simulated")["points_redeemed"] for m in ("2026-01", "2026-02", "2026-03")] == [0, 0, 100]
    assert month(report, "2026-03", "simulated")["program_cost_share"] == "0.0500"
    total = report["total"]["simulated"]
    assert total["liability_points"] == total["points_issued"] - total["points_redeemed"]


def test_the_assumptions_default_to_the_history_and_bad_input_is_refused(engine: Engine) -> None:
    history(engine)
    estimated = read(engine, simulation.estimate_behaviour)
    assert estimated == simulation.Behaviour(Decimal(0), Decimal(0))  # nobody paid with points
    with pytest.raises(InvalidInput) as bad:
        simulate(engine, {**DRAFT, "expiry": {"after_days": -1}})
    assert any(p.path.startswith("expiry") for p in bad.value.problems)
    with pytest.raises(InvalidInput) as backwards:
        read(engine, lambda uow: simulation.simulate(uow, DRAFT, END, START, NOW))
    assert [p.path for p in backwards.value.problems] == ["to"]
    with pytest.raises(InvalidInput) as share:
        simulation.Behaviour(Decimal("1.5"), Decimal(0))
    assert [p.path for p in share.value.problems] == ["redeeming_members"]


def test_stored_campaigns_and_those_the_file_keeps_are_simulated_with_their_budgets(engine: Engine) -> None:
    """A stored bonus of 30 points an order with a budget of 40, and the draft's own x2 in February:

    01: A earns 100 + 30 (welcome; 10 of its budget left)                    issued 130, by campaigns 30
    02: C earns 50 + 50 (x2) + 10 (what is left of the budget); A's 130 burn  issued 110, by campaigns 60
    03: B earns 200, the budget spent; C's 110 burn 03-22                     issued 200, by campaigns 0"""
    history(engine)
    welcome = {"id": "welcome", "name": "Welcome", "starts_at": "2026-01-01", "ends_at": "2026-03-31"}
    welcome |= {"earning": {"fixed_points": 30}, "budget_points": 40}
    run(engine, lambda uow: campaigns.create(uow, welcome, NOW))
    february = {"id": "february", "name": "x2 in February", "starts_at": "2026-02-01", "ends_at": "2026-02-28"}
    draft = {**DRAFT, "campaigns": [{**february, "earning": {"multiplier": 2}}]}
    report = simulate(engine, draft, simulation.Behaviour(Decimal(0), Decimal(0)))
    assert report["campaigns"] == ["campaign:february", "campaign:welcome"]
    simulated = [
        (
            m["simulated"]["points_issued"],
            m["simulated"]["campaign_points_issued"],
            m["simulated"]["points_expired"],
            m["simulated"]["liability_points"],
        )
        for m in report["months"]
    ]
    assert simulated == [(130, 30, 0, 130), (110, 60, 130, 110), (200, 0, 110, 200)]
    assert [m["actual"]["campaign_points_issued"] for m in report["months"]] == [0, 0, 0]  # stored after the orders
    with engine.connect() as conn:  # nothing written: the budget is untouched, the draft's campaign not stored
        assert conn.execute(select(t.campaigns.c.campaign_id, t.campaigns.c.budget_used)).all() == [("welcome", 0)]


def test_a_kept_offer_naming_an_unknown_member_is_refused_with_its_place(engine: Engine) -> None:
    history(engine)
    offer = {"id": "vip", "name": "VIP", "starts_at": "2026-01-01", "earning": {"fixed_points": 5}}
    draft = {**DRAFT, "offers": [{**offer, "audience": {"members": [{"external_id": "nobody"}]}}]}
    with pytest.raises(InvalidInput) as bad:
        simulate(engine, draft)
    assert [p.path.split(".")[0] for p in bad.value.problems] == ["offers[0]"]


def test_a_campaign_for_a_segment_gives_to_its_members_only(engine: Engine) -> None:
    """A static segment holding c2, and the draft's bonus of 7 points an order for it: C (c2, February) gets it,
    A and B (c1) do not."""
    history(engine)
    vip = {"segment_id": "vip", "name": "VIP", "kind": "static", "members": [{"external_id": "c2"}]}
    run(engine, lambda uow: segments.create(uow, vip, NOW))
    bonus = {"id": "vip-bonus", "name": "VIP bonus", "starts_at": "2026-01-01", "audience": {"segments": ["vip"]}}
    draft = {**DRAFT, "campaigns": [{**bonus, "earning": {"fixed_points": 7}}]}
    report = simulate(engine, draft, simulation.Behaviour(Decimal(0), Decimal(0)))
    given = [m["simulated"]["campaign_points_issued"] for m in report["months"]]
    assert given == [0, 7, 0]


def test_an_order_dated_before_its_member_registered_is_theirs_in_the_simulation_too(engine: Engine) -> None:
    """c3 registered on 03-01 (a members file with their sign-up dates), their order of 02-10 confirmed for them:
    the ledger credited it, and so does the simulation (10%: 60 points in February)."""
    history(engine)
    member = members.MemberInput({"external_id": "c3"}, registered_at=datetime(2026, 3, 1, tzinfo=UTC))
    run(engine, lambda uow: members.register(uow, member, NOW))
    late = parse_order(
        {
            "order_id": "E",
            "occurred_at": "2026-02-10T12:00:00+00:00",
            "member": {"external_id": "c3"},
            "lines": [{"sku": "x", "quantity": 1, "price": "600"}],
        },
        NOW,
    )
    imports.import_orders(engine, [(1, late, "c3")], NOW)
    report = simulate(engine, DRAFT, simulation.Behaviour(Decimal(0), Decimal(0)))
    assert month(report, "2026-02", "actual")["points_issued"] == 25 + 30  # C's 5%, and E's
    assert month(report, "2026-02", "simulated")["points_issued"] == 50 + 60
