"""GET /v1/analytics/kpis: a period of bare dates read in the program's time zone, the analytics scope, and the
period's bounds checked with the field named."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.conftest import Server
from tests.usecases import confirm, order, publish, register


def test_the_kpis_of_october_in_the_program_time_zone(server: Server) -> None:
    engine = server.engine
    publish(engine)  # the seed program: Europe/Moscow, 5% cashback, 500 points for registering
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    register(engine, "+79120000001", at=at)
    member_order = order("m1", ("x", "2000", 1), member={"phone": "+79120000001"}, occurred_at=at)
    confirm(engine, member_order, now=at)
    # 2026-09-30 22:00 UTC is 1 October 01:00 in Moscow: inside October there, though not in UTC
    late = datetime(2026, 9, 30, 22, tzinfo=UTC)
    confirm(engine, order("n1", ("x", "1000", 1), occurred_at=late), now=late)
    # 2026-10-31 21:00 UTC is 1 November 00:00 in Moscow: outside
    november = datetime(2026, 10, 31, 21, tzinfo=UTC)
    confirm(engine, order("n2", ("x", "9000", 1), occurred_at=november), now=november)

    with server.client(server.analytics) as analytics:
        response = analytics.get("/v1/analytics/kpis", params={"from": "2026-10-01", "to": "2026-11-01"})
    assert response.status_code == 200, response.text
    kpis = response.json()
    assert (kpis["from"], kpis["to"]) == ("2026-10-01T00:00:00+03:00", "2026-11-01T00:00:00+03:00")
    overall = kpis["overall"]
    assert (overall["registered_members"], overall["active_members"]) == (1, 1)
    assert (overall["engagement"], overall["engagement_good"]) == ("1.0000", True)
    assert (overall["orders"], overall["revenue"], overall["average_check"]) == (2, "3000.00", "1500.00")
    assert overall["points_issued"] == 600  # 500 for registering, 100 on m1
    assert (overall["liability_points"], overall["liability_money"]) == (600, "600.00")
    assert overall["churn"] is None  # nobody was active in September
    assert kpis["members"] == {"orders": 1, "revenue": "2000.00", "average_check": "2000.00"}
    assert kpis["non_members"] == {"orders": 1, "revenue": "1000.00", "average_check": "1000.00"}


def test_a_bad_period_is_422_naming_the_field_and_a_checkout_key_is_refused(server: Server) -> None:
    publish(server.engine)
    with server.client(server.analytics) as analytics:
        backwards = analytics.get("/v1/analytics/kpis", params={"from": "2026-11-01", "to": "2026-10-01"})
        assert backwards.status_code == 422
        assert [e["path"] for e in backwards.json()["errors"]] == ["to"]
        assert "must be after from" in backwards.json()["errors"][0]["reason"]
        garbled = analytics.get("/v1/analytics/kpis", params={"from": "October", "to": "2026-11-01"})
        assert garbled.status_code == 422
        assert [e["path"] for e in garbled.json()["errors"]] == ["from"]
        missing = analytics.get("/v1/analytics/kpis", params={"from": "2026-10-01"})
        assert missing.status_code == 422
        assert "to" in missing.json()["errors"][0]["path"]
    with server.client(server.checkout) as checkout:
        assert checkout.get("/v1/analytics/kpis", params={"from": "2026-10-01", "to": "2026-11-01"}).status_code == 403
