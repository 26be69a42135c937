"""The stores registry over HTTP: an admin records each store's city (the same body twice changes nothing), an
analytics key reads them, a bad city is 422 naming the field."""

from __future__ import annotations

from .conftest import Api


def test_a_store_is_put_again_read_and_listed(api: Api) -> None:
    first = api.admin.put("/v1/stores/msk-01", json={"city": "Moscow", "name": "Tverskaya 1"})
    assert first.status_code == 200, first.text
    assert (first.json()["store_id"], first.json()["city"], first.json()["name"]) == ("msk-01", "Moscow", "Tverskaya 1")
    again = api.admin.put("/v1/stores/msk-01", json={"city": "Moscow", "name": "Tverskaya 1"})
    assert again.json() == first.json()  # idempotent: not even updated_at moves
    moved = api.admin.put("/v1/stores/msk-01", json={"city": "Tver"})
    assert (moved.json()["city"], moved.json()["name"]) == ("Tver", None)
    api.admin.put("/v1/stores/spb-01", json={"city": "Saint Petersburg"})

    with api.server.client(api.server.analytics) as analytics:
        listed = analytics.get("/v1/stores")
        assert listed.status_code == 200
        assert [(s["store_id"], s["city"]) for s in listed.json()["stores"]] == [
            ("spb-01", "Saint Petersburg"),
            ("msk-01", "Tver"),
        ]
        assert analytics.get("/v1/stores/spb-01").json()["city"] == "Saint Petersburg"
        assert analytics.get("/v1/stores/nowhere").status_code == 404
        assert analytics.put("/v1/stores/x", json={"city": "Moscow"}).status_code == 403


def test_a_blank_city_is_refused_naming_the_field(api: Api) -> None:
    blank = api.admin.put("/v1/stores/msk-01", json={"city": "   "})
    assert blank.status_code == 422
    assert [e["path"] for e in blank.json()["errors"]] == ["city"]
    long = api.admin.put("/v1/stores/msk-01", json={"city": "x" * 101})
    assert long.status_code == 422
    assert "city" in long.json()["errors"][0]["path"]
    assert api.admin.get("/v1/stores").json()["stores"] == []


def test_a_store_id_with_a_control_character_is_refused_or_unknown(api: Api) -> None:
    put = api.admin.put("/v1/stores/a%00b", json={"city": "Moscow"})
    assert put.status_code == 422
    assert [e["path"] for e in put.json()["errors"]] == ["store_id"]
    with api.server.client(api.server.analytics) as analytics:
        assert analytics.get("/v1/stores/a%00b").status_code == 404
