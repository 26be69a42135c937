"""Segments over HTTP: an admin defines them, an analytics key reads them and their members, bad definitions and
unknown references are 422 with each field's path and store nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

from .conftest import Api, order_body

AROUND_800 = {
    "segment_id": "check-800",
    "name": "About 800 ₽",
    "conditions": [{"average_check": {"min": "700", "max": "900"}}],
}


def segment_rows(api: Api) -> tuple[int, int]:
    with UnitOfWork(api.server.engine, read_only=True) as uow:
        count = uow.conn.execute(select(func.count()).select_from(t.segments)).scalar_one()
        members = uow.conn.execute(select(func.count()).select_from(t.segment_members)).scalar_one()
    return int(count), int(members)


def test_a_segment_is_created_read_paged_and_recomputed(api: Api) -> None:
    anna = api.register(phone="+79990000001")
    boris = api.register(phone="+79990000002")
    vera = api.register(phone="+79990000003")
    for i, price in enumerate(("750.00", "850.00")):
        api.confirm(order_body(f"a-{i}", anna, ("1", 1, price)))
    api.confirm(order_body("b-1", boris, ("1", 1, "3000.00")))
    api.confirm(order_body("v-1", vera, ("1", 1, "800.00")))

    created = api.admin.post("/v1/segments", json=AROUND_800, headers={"Idempotency-Key": "seg-1"})
    assert created.status_code == 201, created.text
    assert created.json()["member_count"] == 2
    replay = api.admin.post("/v1/segments", json=AROUND_800, headers={"Idempotency-Key": "seg-1"})
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (201, "true")
    assert replay.json() == created.json()
    assert api.admin.post("/v1/segments", json=AROUND_800).status_code == 409

    with api.server.client(api.server.analytics) as analytics:
        listed = analytics.get("/v1/segments").json()["segments"]
        assert [(s["segment_id"], s["member_count"]) for s in listed] == [("check-800", 2)]
        assert analytics.get("/v1/segments/check-800").json()["conditions"] == AROUND_800["conditions"]
        first = analytics.get("/v1/segments/check-800/members", params={"limit": 1}).json()
        assert first == {"segment_id": "check-800", "members": [{"member_id": anna}], "next_cursor": str(anna)}
        rest = analytics.get("/v1/segments/check-800/members", params={"cursor": first["next_cursor"]}).json()
        assert rest == {"segment_id": "check-800", "members": [{"member_id": vera}], "next_cursor": None}
        assert analytics.get(f"/v1/members/{anna}/segments").json() == {"member_id": anna, "segments": ["check-800"]}
        assert analytics.get("/v1/segments/missing").status_code == 404
        assert analytics.get("/v1/members/999/segments").status_code == 404
        assert analytics.post("/v1/segments", json={**AROUND_800, "segment_id": "other"}).status_code == 403

    api.confirm(order_body("b-2", boris, ("1", 1, "100.00")))  # (3,000 + 100) / 2 = 1,550: still out
    api.confirm(order_body("v-2", vera, ("1", 1, "2000.00")))  # (800 + 2,000) / 2 = 1,400: out after recompute
    recomputed = api.admin.post("/v1/segments/check-800/recompute", json={"as_of": "2030-01-01T00:00:00+00:00"})
    assert recomputed.status_code == 200, recomputed.text
    assert (recomputed.json()["member_count"], recomputed.json()["computed_at"]) == (1, "2030-01-01T00:00:00+00:00")

    changed = api.admin.put(
        "/v1/segments/check-800", json={"name": "Above 1000 ₽", "conditions": [{"average_check": {"min": "1000"}}]}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["member_count"]) == ("Above 1000 ₽", 2)
    job = api.admin.post("/v1/segments/recompute", json={})
    assert job.status_code == 200, job.text
    assert (job.json()["segments"], job.json()["members"]) == (1, 2)
    assert api.shop.get("/v1/segments").status_code == 403


def test_bad_definitions_are_refused_with_each_field_and_store_nothing(api: Api) -> None:
    member_id = api.register(phone="+79990000001")
    before = segment_rows(api)
    bad = {
        "segment_id": "bad",
        "name": "Bad",
        "conditions": [
            {"average_check": {"min": "900", "max": "700"}},
            {"favourite_colour": "red"},
            {"tier": "gold"},
            {"total_spend": {"min": "1.005"}},
        ],
    }
    refused = api.admin.post("/v1/segments", json=bad, headers={"Idempotency-Key": "bad-1"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in refused.json()["errors"]] == [
        "conditions[0].average_check",
        "conditions[1].favourite_colour",
        "conditions[2].tier",
        "conditions[3].total_spend.min",
    ]
    assert refused.json()["errors"][0]["reason"] == "min 900.00 is greater than max 700.00"
    assert refused.json()["errors"][2]["reason"] == "the published program has no tiers"

    unknown = {
        "segment_id": "vip",
        "name": "VIP",
        "kind": "static",
        "members": [{"member_id": member_id}, {"phone": "+79990000099"}, {"external_id": "crm-1"}],
    }
    refused = api.admin.post("/v1/segments", json=unknown)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"path": "members[1].phone", "reason": "no member with phone +79990000099"},
        {"path": "members[2].external_id", "reason": "no member with external_id crm-1"},
    ]
    assert api.admin.post("/v1/segments", json={**AROUND_800, "conditions": [{"age": {"min": 1.5}}]}).status_code == 422
    assert api.admin.put("/v1/segments/missing", json={"name": "X"}).status_code == 404
    assert segment_rows(api) == before

    static = api.admin.post("/v1/segments", json={**unknown, "members": [{"member_id": member_id}]})
    assert static.status_code == 201
    assert (static.json()["kind"], static.json()["member_count"]) == ("static", 1)
    retyped = api.admin.put("/v1/segments/vip", json={"conditions": [{"gender": "female"}]})
    assert retyped.status_code == 422
    assert retyped.json()["errors"][0]["path"] == "conditions"


def test_a_segment_is_renamed_without_resending_its_definition(api: Api) -> None:
    anna = api.register(phone="+79990000011")
    api.confirm(order_body("r-1", anna, ("1", 1, "800.00")))
    assert api.admin.post("/v1/segments", json=AROUND_800).status_code == 201
    static = {"segment_id": "vip", "name": "VIP", "kind": "static", "members": [{"member_id": anna}]}
    assert api.admin.post("/v1/segments", json=static).status_code == 201
    before = {s: api.admin.get(f"/v1/segments/{s}").json() for s in ("check-800", "vip")}

    for segment_id, name in (("check-800", "Usually about 800 ₽"), ("vip", "Very important guests")):
        renamed = api.admin.put(f"/v1/segments/{segment_id}", json={"name": name})
        assert renamed.status_code == 200, renamed.text
        kept = {k: v for k, v in renamed.json().items() if k not in ("name", "updated_at")}
        assert kept == {k: v for k, v in before[segment_id].items() if k not in ("name", "updated_at")}
        assert api.admin.get(f"/v1/segments/{segment_id}").json()["name"] == name
    with api.server.client(api.server.analytics) as analytics:
        assert analytics.get("/v1/segments/vip/members").json()["members"] == [{"member_id": anna}]
    assert api.admin.put("/v1/segments/vip", json={"name": ""}).status_code == 422
