"""A version's effective date over HTTP: a bare date is the start of that day in the program's time zone, as on
the command line."""

from __future__ import annotations

import httpx

from .conftest import SEED_PROGRAM, Server


def test_a_bare_effective_date_starts_at_midnight_in_the_programs_time_zone(
    server: Server, admin: httpx.Client
) -> None:
    autumn = admin.post("/v1/program/versions", json={"document": SEED_PROGRAM, "effective_from": "2025-09-01"})
    assert autumn.status_code == 201, autumn.text
    doubled = {**SEED_PROGRAM, "name": "New year", "earning": {"rules": [{"id": "base", "percent": 10}]}}
    new_year = admin.post("/v1/program/versions", json={"document": doubled, "effective_from": "2026-01-01"})
    assert new_year.status_code == 201, new_year.text
    assert new_year.json()["effective_from"] == "2026-01-01T00:00:00+03:00"
    listed = admin.get("/v1/program/versions").json()
    assert [v["effective_from"] for v in listed] == ["2025-08-31T21:00:00+00:00", "2025-12-31T21:00:00+00:00"]
    before = admin.get("/v1/program/versions/current", params={"at": "2025-12-31T23:59:59+03:00"}).json()
    assert before["version"] == 1
    with server.client(server.checkout) as shop:
        quote = shop.post(
            "/v1/orders/calculate",
            json={
                "order_id": "night",
                "occurred_at": "2026-01-01T00:30:00+03:00",
                "lines": [{"sku": "tea", "price": "1000.00"}],
                "member": {"member_id": shop.post("/v1/members", json={"phone": "+79990005566"}).json()["member_id"]},
            },
        ).json()
    assert (quote["program_version"], quote["points_to_earn"]) == (2, 100)
    bad = admin.post("/v1/program/versions", json={"document": doubled, "effective_from": "2026-02-30"})
    assert bad.status_code == 422
    assert [e["path"] for e in bad.json()["errors"]] == ["effective_from"]
