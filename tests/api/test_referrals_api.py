"""Referrals over HTTP against a real server: codes on profiles, registration with a code, attaching one later,
the refusals with the field and the reason, the list of referred members, and the job (admin only)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import httpx
import pytest

from .conftest import SEED_PROGRAM, Server, order_body, state_snapshot


@pytest.fixture
def shop(server: Server, admin: httpx.Client) -> Any:
    document = copy.deepcopy(SEED_PROGRAM)
    document["referrals"] = {"new_member_points": 300, "referrer_points": 700, "return_window_days": 14}
    response = admin.post(
        "/v1/program/versions", json={"document": document, "effective_from": "2026-01-01T00:00:00+03:00"}
    )
    assert response.status_code == 201, response.text
    with server.client(server.checkout) as client:
        yield client


def join(shop: httpx.Client, phone: str, **fields: Any) -> dict[str, Any]:
    response = shop.post("/v1/members", json={"phone": phone, **fields})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_referral_from_registration_to_the_referrers_reward(
    server: Server, shop: httpx.Client, admin: httpx.Client
) -> None:
    anna = join(shop, "+79120000001")
    code = anna["referral_code"]
    assert shop.get(f"/v1/members/{anna['member_id']}").json()["referral_code"] == code
    boris = join(shop, "+79120000002", referral_code=f"{code[:4].lower()}-{code[4:]}")
    assert shop.get(f"/v1/members/{boris['member_id']}/balance").json()["balance"] == 800
    rules = [e["rule"] for e in shop.get(f"/v1/members/{boris['member_id']}/entries").json()["entries"]]
    assert rules == ["referral:new_member", "action.registration"]
    listed = shop.get(f"/v1/members/{anna['member_id']}/referrals").json()
    assert listed["counts"] == {"pending": 1, "rewarded": 0, "void": 0}
    assert listed["referrals"][0]["member_id"] == boris["member_id"]

    confirmed = shop.post("/v1/orders/confirm", json=order_body("B-1", boris["member_id"], ("1", 1, "10000.00")))
    assert confirmed.status_code == 200, confirmed.text
    soon = (server.clock() + timedelta(days=13)).isoformat()
    assert shop.post("/v1/jobs/referrals", json={"as_of": soon}).status_code == 403
    early = admin.post("/v1/jobs/referrals", json={"as_of": soon})
    assert early.status_code == 200, early.text
    assert (early.json()["job"], early.json()["rewarded"]) == ("referrals", 0)
    later = (server.clock() + timedelta(days=15)).isoformat()
    job = admin.post("/v1/jobs/referrals", json={"as_of": later})
    assert job.status_code == 200, job.text
    assert job.json()["rewarded"] == 1
    assert admin.post("/v1/jobs/referrals", json={"as_of": later}).json()["rewarded"] == 0
    assert shop.get(f"/v1/members/{anna['member_id']}/balance").json()["balance"] == 1200
    token = shop.post(f"/v1/members/{anna['member_id']}/token").json()["token"]
    with server.client(token) as member_app:
        listed = member_app.get(f"/v1/members/{anna['member_id']}/referrals").json()
    assert listed["counts"] == {"pending": 0, "rewarded": 1, "void": 0}
    assert listed["points"] == 700
    assert listed["referrals"][0]["order_id"] == "B-1"
    assert admin.get("/v1/audit").json()["ok"] is True


def test_an_unknown_or_malformed_code_registers_nobody(server: Server, shop: httpx.Client) -> None:
    anna = join(shop, "+79120000001")
    unknown = "ZZZZ2222" if anna["referral_code"] != "ZZZZ2222" else "YYYY3333"
    before = state_snapshot(server.engine)
    response = shop.post("/v1/members", json={"phone": "+79120000002", "referral_code": unknown})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"path": "referral_code", "reason": f"no member has the referral code {unknown}"}
    ]
    response = shop.post("/v1/members", json={"phone": "+79120000002", "referral_code": "O0O0"})
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["referral_code"]
    assert state_snapshot(server.engine) == before


def test_attaching_a_code_after_registering_and_the_refusals(server: Server, shop: httpx.Client) -> None:
    anna, boris, clara = (join(shop, f"+7912000000{i}") for i in (1, 2, 3))
    attached = shop.post(f"/v1/members/{boris['member_id']}/referral", json={"code": anna["referral_code"]})
    assert attached.status_code == 201, attached.text
    assert attached.json()["status"] == "pending"
    assert attached.json()["new_member_points"] == 300
    again = shop.post(f"/v1/members/{boris['member_id']}/referral", json={"code": anna["referral_code"]})
    assert (again.status_code, again.json()) == (201, attached.json())
    before = state_snapshot(server.engine)
    own = shop.post(f"/v1/members/{clara['member_id']}/referral", json={"code": clara["referral_code"]})
    assert own.status_code == 422
    assert own.json()["errors"][0]["path"] == "code"
    loop = shop.post(f"/v1/members/{anna['member_id']}/referral", json={"code": boris["referral_code"]})
    assert loop.status_code == 422
    assert "loop" in loop.json()["errors"][0]["reason"]
    second = shop.post(f"/v1/members/{boris['member_id']}/referral", json={"code": clara["referral_code"]})
    assert second.status_code == 409
    assert "already referred" in second.json()["detail"]
    missing = shop.post("/v1/members/999999/referral", json={"code": anna["referral_code"]})
    assert missing.status_code == 404
    assert state_snapshot(server.engine) == before
    assert shop.get("/v1/members/999999/referrals").status_code == 404
