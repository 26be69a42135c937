"""Records that arrive late over HTTP (offline tills, migrations): a member's `registered_at` and an adjustment's
`occurred_at`, read with the same rules as an order's `occurred_at`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import SEED_PROGRAM, Server, table_counts


@pytest.fixture
def clients(november_server: Server) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(checkout, admin) at NOVEMBER_1 (2026-11-01 12:00 UTC) with the seed program (Moscow, points burn after 365
    days) in force since 2025-01-01."""
    with (
        november_server.client(november_server.admin) as admin,
        november_server.client(november_server.checkout) as shop,
    ):
        published = admin.post(
            "/v1/program/versions", json={"document": SEED_PROGRAM, "effective_from": "2025-01-01T00:00:00+03:00"}
        )
        assert published.status_code == 201, published.text
        yield shop, admin


def _entries(shop: httpx.Client, member_id: int) -> list[dict[str, Any]]:
    response = shop.get(f"/v1/members/{member_id}/entries")
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def test_a_member_registered_last_year_gets_the_welcome_points_dated_then(
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    shop, _ = clients
    response = shop.post("/v1/members", json={"card": "C-1", "registered_at": "2025-11-20T10:00:00+03:00"})
    assert response.status_code == 201, response.text
    member = response.json()
    assert member["registered_at"] == "2025-11-20T07:00:00+00:00"
    (welcome,) = _entries(shop, member["member_id"])
    assert (welcome["kind"], welcome["points"]) == ("action", 500)
    assert welcome["occurred_at"] == "2025-11-20T07:00:00+00:00"
    balance = shop.get(f"/v1/members/{member['member_id']}/balance").json()
    # 365 days from then, not from today
    assert balance["next_expiries"] == [{"expires_at": "2026-11-20T07:00:00+00:00", "points": 500}]


def test_a_registration_date_is_the_start_of_that_day_in_the_program_time_zone(
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    shop, _ = clients
    response = shop.post("/v1/members", json={"card": "C-2", "registered_at": "2026-03-01"})
    assert response.status_code == 201, response.text
    assert response.json()["registered_at"] == "2026-02-28T21:00:00+00:00"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-01T12:06:00+00:00", "in the future"),  # NOW + 6 minutes: beyond the 5 minutes of clock drift
        ("2026-10-01T10:00:00", "offset"),
        ("1899-12-31T00:00:00+00:00", "between 1900 and 2999"),
        ("yesterday", "not an ISO 8601"),
    ],
)
def test_a_registration_date_is_refused_where_an_order_date_would_be(
    november_server: Server, clients: tuple[httpx.Client, httpx.Client], value: str, reason: str
) -> None:
    shop, _ = clients
    before = table_counts(november_server.engine)
    member = shop.post("/v1/members", json={"card": "C-3", "registered_at": value})
    order = shop.post(
        "/v1/orders/calculate",
        json={"order_id": "O-1", "occurred_at": value, "lines": [{"sku": "x", "price": "10.00"}]},
    )
    for response, path in ((member, "registered_at"), (order, "occurred_at")):
        assert response.status_code == 422, response.text
        (error,) = response.json()["errors"]
        assert error["path"] == path
        assert reason in error["reason"]
    assert table_counts(november_server.engine) == before


def test_an_adjustment_records_when_it_happened(clients: tuple[httpx.Client, httpx.Client]) -> None:
    shop, admin = clients
    member_id = shop.post("/v1/members", json={"card": "C-4"}).json()["member_id"]
    adjusted = admin.post(
        f"/v1/members/{member_id}/adjustments",
        json={
            "points": 200,
            "operator": "migration",
            "reason": "points of the old system",
            "occurred_at": "2026-10-01T09:00:00+03:00",
        },
    )
    assert adjusted.status_code == 201, adjusted.text
    entry = next(e for e in _entries(shop, member_id) if e["kind"] == "adjust")
    assert entry["occurred_at"] == "2026-10-01T06:00:00+00:00"
    expiries = shop.get(f"/v1/members/{member_id}/balance").json()["next_expiries"]
    assert {"expires_at": "2027-10-01T06:00:00+00:00", "points": 200} in expiries

    future = admin.post(
        f"/v1/members/{member_id}/adjustments",
        json={"points": 1, "operator": "o", "reason": "r", "occurred_at": "2026-11-02"},
    )
    assert future.status_code == 422
    assert future.json()["errors"] == [
        {"path": "occurred_at", "reason": "is in the future (now is 2026-11-01T12:00:00+00:00)"}
    ]
