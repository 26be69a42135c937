"""Every ledger entry names the program version in force at its instant — adjustments and expiries too — and the
expiry job burns only what is left: one `expire` entry per lot with points left, none for a lot spent in full."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import SEED_PROGRAM, Server


def publish(admin: httpx.Client, name: str, effective_from: str) -> int:
    response = admin.post(
        "/v1/program/versions", json={"document": {**SEED_PROGRAM, "name": name}, "effective_from": effective_from}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["version"])


def entries(client: httpx.Client, member_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/v1/members/{member_id}/entries", params={"limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


def confirm(shop: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = shop.post("/v1/orders/confirm", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_adjustments_and_expiries_name_the_version_in_force_and_only_lots_with_points_left_expire(
    server: Server, admin: httpx.Client
) -> None:
    first = publish(admin, "Winter", "2026-01-01T00:00:00+03:00")
    summer = publish(admin, "Summer", "2026-06-01T00:00:00+03:00")
    publish(admin, "Far future", "2099-01-01T00:00:00+03:00")  # the latest, but in force at none of these instants
    with server.client(server.checkout) as shop:
        member_id = shop.post("/v1/members", json={"phone": "+79990002233"}).json()["member_id"]
        ref = {"member_id": member_id}
        # Two lots of 500 points, spendable from late January, expiring a year after each purchase.
        for key, day in (("E-1", "10"), ("E-2", "11")):
            earned = confirm(
                shop,
                {
                    "order_id": key,
                    "member": ref,
                    "occurred_at": f"2026-01-{day}T12:00:00+03:00",
                    "lines": [{"sku": "coat", "price": "10000.00"}],
                },
            )
            assert earned["points_to_earn"] == 500
        # 700 points soonest-expiring first: E-1's lot is spent in full, 300 of E-2's are left.
        spent = confirm(
            shop,
            {
                "order_id": "E-3",
                "member": ref,
                "occurred_at": "2026-02-01T12:00:00+03:00",
                "points": 700,
                "lines": [{"sku": "lamp", "price": "1000.00"}],
            },
        )
        assert spent["points_applied"] == 700

    added = admin.post(
        f"/v1/members/{member_id}/adjustments", json={"points": 120, "operator": "olga", "reason": "late delivery"}
    )
    assert added.status_code == 201, added.text
    removed = admin.post(
        f"/v1/members/{member_id}/adjustments", json={"points": -20, "operator": "olga", "reason": "typo"}
    )
    assert removed.status_code == 201, removed.text
    adjustments = [e for e in entries(admin, member_id) if e["kind"] == "adjust"]
    assert sorted(e["points"] for e in adjustments) == [-20, 120]
    assert {(e["program_version"], e["rule"]) for e in adjustments} == {(summer, "adjustment")}

    job = admin.post("/v1/jobs/expire", json={"as_of": "2027-01-12T00:00:00+03:00"})
    assert job.status_code == 200, job.text
    assert (job.json()["points"], job.json()["accounts"]) == (280, 1)  # the removal took 20 of E-2's 300
    expired = [e for e in entries(admin, member_id) if e["kind"] == "expire"]
    assert [(e["points"], e["program_version"], e["rule"]) for e in expired] == [(-280, summer, "expiry")]
    assert expired[0]["occurred_at"].startswith("2027-01-11")  # at the lot's own expiry, under Summer
    earned_under = {e["program_version"] for e in entries(admin, member_id) if e["kind"] == "earn"}
    assert earned_under == {first}
    again = admin.post("/v1/jobs/expire", json={"as_of": "2027-01-12T00:00:00+03:00"})
    assert again.json()["points"] == 0
    assert len([e for e in entries(admin, member_id) if e["kind"] == "expire"]) == 1
    audit = admin.get("/v1/audit").json()
    assert audit["ok"], audit["violations"]
