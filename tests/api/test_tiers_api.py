"""Tiers over HTTP: the tier, its privileges and the progress the shop reads; the re-evaluation job."""

from __future__ import annotations

import copy

import httpx

from .conftest import SEED_PROGRAM, Server


def test_tier_progress_and_privileges_over_http(server: Server, admin: httpx.Client) -> None:
    document = copy.deepcopy(SEED_PROGRAM)
    document["tiers"] = {
        "levels": [
            {"id": "silver", "name": "Silver", "from": "0"},
            {"id": "gold", "name": "Gold", "from": "15000", "multiplier": "1.5", "privileges": ["free_delivery"]},
        ]
    }
    assert (
        admin.post(
            "/v1/program/versions", json={"document": document, "effective_from": "2026-01-01T00:00:00+03:00"}
        ).status_code
        == 201
    )
    with server.client(server.checkout) as shop:
        member_id = shop.post("/v1/members", json={"phone": "+79990001122"}).json()["member_id"]
        order = {"order_id": "T-1", "member": {"member_id": member_id}, "lines": [{"sku": "coat", "price": "12650.00"}]}
        assert shop.post("/v1/orders/confirm", json=order).status_code == 200
        tier = shop.get(f"/v1/members/{member_id}/tier").json()
        assert tier["tier"]["id"] == "silver"
        assert tier["next_tier"]["message"] == "2350.00 RUB more to Gold"
        order = {"order_id": "T-2", "member": {"member_id": member_id}, "lines": [{"sku": "hat", "price": "2350.00"}]}
        shop.post("/v1/orders/confirm", json=order)
        tier = shop.get(f"/v1/members/{member_id}/tier").json()
        assert tier["tier"] == {"id": "gold", "name": "Gold", "multiplier": "1.5", "privileges": ["free_delivery"]}
        assert tier["next_tier"] is None
        assert [h["to"] for h in tier["history"]] == ["gold"]
        token = shop.post(f"/v1/members/{member_id}/token").json()["token"]
    with server.client(token) as member_app:
        assert member_app.get(f"/v1/members/{member_id}/tier").json()["tier"]["id"] == "gold"
    job = admin.post("/v1/jobs/tiers", json={})
    assert job.status_code == 200
    assert job.json()["members"] == 1


def test_a_lifetime_level_is_kept_after_a_return_however_often_the_tiers_job_runs(
    server: Server, admin: httpx.Client
) -> None:
    document = copy.deepcopy(SEED_PROGRAM)
    document["tiers"] = {
        "period": "lifetime",
        "levels": [{"id": "silver", "name": "Silver", "from": "0"}, {"id": "gold", "name": "Gold", "from": "15000"}],
    }
    published = admin.post(
        "/v1/program/versions", json={"document": document, "effective_from": "2026-01-01T00:00:00+03:00"}
    )
    assert published.status_code == 201, published.text
    with server.client(server.checkout) as shop:
        member_id = shop.post("/v1/members", json={"phone": "+79990001123"}).json()["member_id"]
        order = {
            "order_id": "L-1",
            "member": {"member_id": member_id},
            "occurred_at": "2026-02-01T12:00:00+03:00",
            "lines": [{"line_id": "1", "sku": "sofa", "quantity": 2, "price": "8000.00"}],
        }
        assert shop.post("/v1/orders/confirm", json=order).status_code == 200
        assert shop.get(f"/v1/members/{member_id}/tier").json()["tier"]["id"] == "gold"
        returned = shop.post(
            "/v1/orders/L-1/returns", json={"return_id": "L-1-R", "lines": [{"line_id": "1", "quantity": 1}]}
        )
        assert returned.status_code == 201, returned.text
        for as_of in ("2026-02-02T00:00:00+03:00", "2027-06-01T00:00:00+03:00", "2035-01-01T00:00:00+03:00"):
            job = admin.post("/v1/jobs/tiers", json={"as_of": as_of})
            assert job.status_code == 200, job.text
            assert job.json()["downgraded"] == 0
        tier = shop.get(f"/v1/members/{member_id}/tier").json()
    assert tier["qualifying_value"] == "8000.00"  # below Gold's 15,000 since the return
    assert tier["tier"]["id"] == "gold"
    assert tier["kept_until"] is None  # kept for ever
    assert [h["to"] for h in tier["history"]] == ["gold"]
