"""GET /v1/analytics/kpis: a period of bare dates read in the program's time zone, the analytics scope, and the
period's bounds checked with the field named; its splits and filters; GET /v1/analytics/kpis/launch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty.segments import service as segments
from tests.api.conftest import Server
from tests.usecases import confirm, order, publish, register, run


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
    assert "by" not in kpis and "groups" not in kpis  # only a split report names its dimension and groups


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


def _history(server: Server) -> None:
    """The seed program; a member buying 2,000 RUB on the web on 5 October and 1,000 at the till on 10 September,
    in the static segment `vip`; a non-member buying 1,000 at the till on 6 October."""
    engine = server.engine
    publish(engine)
    september = datetime(2026, 9, 10, 12, tzinfo=UTC)
    member = register(engine, "+79120000001", at=september)
    buyer = {"phone": "+79120000001"}
    confirm(engine, order("m0", ("x", "1000", 1), member=buyer, occurred_at=september, channel="till"), now=september)
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    confirm(engine, order("m1", ("x", "2000", 1), member=buyer, occurred_at=at, channel="web"), now=at)
    later = at + timedelta(days=1)
    confirm(engine, order("n1", ("x", "1000", 1), occurred_at=later, channel="till"), now=later)
    vip = {"segment_id": "vip", "name": "VIP", "kind": "static", "members": [{"member_id": member}]}
    run(engine, lambda uow: segments.create(uow, vip, later))


def test_the_kpis_split_by_channel_and_filtered_to_a_segment(server: Server) -> None:
    _history(server)
    october = {"from": "2026-10-01", "to": "2026-11-01"}
    with server.client(server.analytics) as analytics:
        by_channel = analytics.get("/v1/analytics/kpis", params={**october, "by": "channel"})
        vip = analytics.get("/v1/analytics/kpis", params={**october, "segment": "vip"})
        till = analytics.get("/v1/analytics/kpis", params={**october, "by": "channel", "channel": "till"})
    assert by_channel.status_code == 200, by_channel.text
    report = by_channel.json()
    assert report["by"] == "channel"
    assert [g["group"] for g in report["groups"]] == ["till", "web"]
    till_group, web_group = report["groups"]
    assert till_group["figures"]["orders"] == 1  # n1
    assert till_group["members"] == {"orders": 0, "revenue": "0.00", "average_check": None}
    assert till_group["non_members"] == {"orders": 1, "revenue": "1000.00", "average_check": "1000.00"}
    assert "engagement" not in till_group["figures"]  # an order group has no engagement
    assert web_group["figures"]["historical_ltv"] == "3000.00"  # the web's buyer: 1,000 in September + 2,000
    assert web_group["figures"]["points_issued"] == 100  # earned on m1
    assert vip.status_code == 200, vip.text
    assert vip.json()["by"] == "segment"
    [group] = vip.json()["groups"]
    assert group["group"] == "vip"
    assert (group["figures"]["registered_members"], group["figures"]["orders"]) == (1, 1)
    assert group["figures"]["points_issued"] == 100  # m1 (the registration bonus was in September)
    assert (group["members"], group["non_members"]) == (None, None)
    assert [g["group"] for g in till.json()["groups"]] == ["till"]


def test_a_bad_split_is_422_naming_the_field(server: Server) -> None:
    _history(server)
    october = {"from": "2026-10-01", "to": "2026-11-01"}
    with server.client(server.analytics) as analytics:
        for params, path, reason in [
            ({"by": "colour"}, "by", "unknown dimension 'colour'"),
            ({"segment": "gold-club"}, "segment", "unknown segment 'gold-club'; the known ones are: vip"),
            ({"by": "tier", "segment": "vip"}, "segment", "split by tier"),
            ({"segment": "vip", "store": "north"}, "store", "one group at a time"),
            ({"segment": "v" * 65}, "segment", "longer than 64 characters"),
            ({"by": "x" * 21}, "by", ""),
        ]:
            response = analytics.get("/v1/analytics/kpis", params={**october, **params})
            assert response.status_code == 422, (params, response.text)
            assert [e["path"] for e in response.json()["errors"]] == [path], params
            assert reason in response.json()["errors"][0]["reason"], params


def test_before_and_after_a_launch(server: Server) -> None:
    _history(server)
    with server.client(server.analytics) as analytics:
        response = analytics.get("/v1/analytics/kpis/launch", params={"date": "2026-10-01", "days": 30})
        assert response.status_code == 200, response.text
        compared = response.json()
        for params in ({"date": "2026-10-01", "days": 0}, {"date": "2026-10-01", "days": 1826}):
            refused = analytics.get("/v1/analytics/kpis/launch", params=params)
            assert refused.status_code == 422
            assert [e["path"] for e in refused.json()["errors"]] == ["days"]
            assert "between 1 and 1825" in refused.json()["errors"][0]["reason"]
        garbled = analytics.get("/v1/analytics/kpis/launch", params={"date": "2026-10-01", "days": "a month"})
        assert [e["path"] for e in garbled.json()["errors"]] == ["days"]
        no_date = analytics.get("/v1/analytics/kpis/launch", params={"date": "October", "days": 30})
        assert [e["path"] for e in no_date.json()["errors"]] == ["date"]
    with server.client(server.checkout) as checkout:
        forbidden = checkout.get("/v1/analytics/kpis/launch", params={"date": "2026-10-01", "days": 30})
        assert forbidden.status_code == 403
    assert compared["launch"] == "2026-10-01T00:00:00+03:00"  # a bare date is the program's (Moscow)
    assert compared["before"] == {"from": "2026-09-01T00:00:00+03:00", "to": "2026-10-01T00:00:00+03:00"}
    assert compared["after"] == {"from": "2026-10-01T00:00:00+03:00", "to": "2026-10-31T00:00:00+03:00"}
    # September: m0 1,000; October: m1 2,000 and n1 1,000
    assert compared["overall"]["revenue"] == {
        "before": "1000.00",
        "after": "3000.00",
        "change": "2000.00",
        "relative_change": "2.0000",
    }
    assert compared["members"]["orders"] == {"before": 1, "after": 1, "change": "0", "relative_change": "0.0000"}
    assert compared["non_members"]["average_check"] == {
        "before": None,
        "after": "1000.00",
        "change": None,
        "relative_change": None,
    }
