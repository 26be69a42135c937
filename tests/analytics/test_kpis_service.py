"""The KPIs of October 2026 over a small history built through the use cases, each figure worked out by hand.

The program: 5% cashback (1 point = 1 RUB), 500 points for registering, points spendable 14 days after the
purchase, burning 30 days after they are given, an order paid partly with points earns nothing.

    member A  registers 09-05 (+500)  order a1 09-10 10,000.00 (+500)         expiry job 10-06: -500 (lot of 09-05)
    member B  registers 09-20 (+500)  order b1 09-25  2,000.00 (+100)
                                      order b2 10-10  3,000.00 paying 500 points (-500, earns nothing)
                                      order b3 10-20  4,000.00 (+200: line 1 3 × 1,000.00 earns 150, line 2 50)
                                      return 10-25 one unit of b3's line 1 (-50), b3 nets 3,000.00
    member C  registers 10-03 (+500)  order c1 10-05  1,500.00 (+75)
                                      order c2 10-15  2,000.00 (+100), cancelled 10-16 (-100)
    member D  registers 10-28 (+500)  no orders
    non-members                       order n0 09-15  1,000.00; n1 10-12 5,000.00; n2 11-01T00:00 7,000.00

Orders name a channel: b1, b2, c2 and n2 the web, the others the till.

The period is [10-01, 11-01) UTC, so n2 falls just outside it; the previous period is [08-31, 10-01)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from loyalty.analytics import launch as launches
from loyalty.analytics import service as analytics
from loyalty.core.errors import InvalidInput
from loyalty.ledger import jobs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from tests.cli.test_cli import loyalty
from tests.usecases import cancel, confirm, order, publish, read, register, return_lines, seed_program

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def day(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def buy(
    engine: Engine,
    key: str,
    at: datetime,
    *lines: tuple[str, str, int],
    phone: str | None,
    channel: str,
    points: int = 0,
) -> None:
    member = {"phone": phone} if phone else None
    body = order(key, *lines, member=member, points=points, occurred_at=at, channel=channel)
    confirm(engine, body, now=at + timedelta(minutes=1))


@pytest.fixture
def history(engine: Engine) -> Engine:
    publish(engine, seed_program(expiry={"after_days": 30}), effective_from=datetime(2026, 8, 1, tzinfo=UTC))
    a, b, c, d = "+79120000001", "+79120000002", "+79120000003", "+79120000004"
    register(engine, a, at=day(9, 5))
    buy(engine, "a1", day(9, 10), ("x", "10000", 1), phone=a, channel="till")
    buy(engine, "n0", day(9, 15), ("x", "1000", 1), phone=None, channel="till")
    register(engine, b, at=day(9, 20))
    buy(engine, "b1", day(9, 25), ("x", "2000", 1), phone=b, channel="web")
    register(engine, c, at=day(10, 3))
    buy(engine, "c1", day(10, 5), ("x", "1500", 1), phone=c, channel="till")
    assert jobs.expire(engine, day(10, 6), day(10, 6)) == {"accounts": 1, "points": 500}  # A's registration lot
    buy(engine, "b2", day(10, 10), ("x", "3000", 1), phone=b, points=500, channel="web")
    buy(engine, "n1", day(10, 12), ("x", "5000", 1), phone=None, channel="till")
    buy(engine, "c2", day(10, 15), ("x", "2000", 1), phone=c, channel="web")
    cancel(engine, "c2", now=day(10, 16))
    buy(engine, "b3", day(10, 20), ("x", "1000", 3), ("y", "1000", 1), phone=b, channel="till")
    return_lines(engine, "b3", "r1", [("1", 1)], now=day(10, 25))
    register(engine, d, at=day(10, 28))
    buy(engine, "n2", END, ("x", "7000", 1), phone=None, channel="web")
    return engine


def test_every_kpi_of_october(history: Engine) -> None:
    kpis = read(history, lambda uow: analytics.kpis(uow, START, END))
    assert kpis["from"] == "2026-10-01T00:00:00+00:00"
    assert kpis["to"] == "2026-11-01T00:00:00+00:00"
    assert kpis["currency"] == "RUB"
    assert kpis["overall"] == {
        "registered_members": 4,  # A, B, C, D
        "active_members": 2,  # B (spent on b2, earned on b3), C (earned on c1, c2); A only lost points, D only joined
        "engagement": "0.5000",  # 2 / 4
        "engagement_good": False,
        "churn": "0.5000",  # A and B were active in September; A is not in October: 1 / 2
        "orders": 4,  # b2, b3, c1, n1 (c2 came back whole; n0 and n2 are outside)
        "revenue": "12500.00",  # 3,000 + (4,000 - 1,000 returned) + 1,500 + 5,000
        "average_check": "3125.00",  # 12,500 / 4
        "repeat_purchase_rate": "0.5000",  # B bought twice, C once: 1 / 2
        "purchase_frequency": "1.5000",  # members' orders 3 / buying members 2
        "historical_ltv": "4875.00",  # (10,000 + 2,000 + 3,000 + 3,000 + 1,500 + 0) / 4 members
        "points_issued": 1375,  # C 500 + D 500 registering, b3 200, c1 75, c2 100
        "points_redeemed": 500,  # b2
        "points_expired": 500,  # A's registration lot, burnt at 10-05
        "points_taken_back": 150,  # b3's return 50, c2's cancellation 100
        "redemption_rate": "0.3636",  # 500 / 1,375 = 0.363636...
        "breakage": "0.3636",  # 500 / 1,375
        # A 500+500-500, B 500+100-500+200-50, C 500+75+100-100, D 500: 500 + 250 + 575 + 500
        "liability_points": 1825,
        "liability_money": "1825.00",  # a point is worth 1 RUB
        "program_cost_share": "0.0400",  # 500 points × 1 RUB / 12,500 RUB
    }
    assert kpis["members"] == {"orders": 3, "revenue": "7500.00", "average_check": "2500.00"}
    assert kpis["non_members"] == {"orders": 1, "revenue": "5000.00", "average_check": "5000.00"}


def test_october_by_channel(history: Engine) -> None:
    kpis = read(history, lambda uow: analytics.kpis(uow, START, END, by="channel", now=END))
    till, web = kpis["groups"]
    assert till == {
        "group": "till",
        "figures": {
            "orders": 3,  # b3, c1, n1
            "revenue": "9500.00",  # 3,000 + 1,500 + 5,000
            "average_check": "3166.67",
            "repeat_purchase_rate": "0.0000",  # B and C once each at the till
            "purchase_frequency": "1.0000",
            "historical_ltv": "4750.00",  # B's 2,000 + 3,000 + 3,000 and C's 1,500, over B and C
            "points_issued": 275,  # b3 200, c1 75
            "points_redeemed": 0,
            "points_taken_back": 50,  # b3's return
            "redemption_rate": "0.0000",
            "liability_points": 825,  # B 250, C 575
            "liability_money": "825.00",
            "program_cost_share": "0.0000",
        },
        "members": {"orders": 2, "revenue": "4500.00", "average_check": "2250.00"},
        "non_members": {"orders": 1, "revenue": "5000.00", "average_check": "5000.00"},
    }
    assert web == {
        "group": "web",
        "figures": {
            "orders": 1,  # b2; c2 came back whole
            "revenue": "3000.00",
            "average_check": "3000.00",
            "repeat_purchase_rate": "0.0000",
            "purchase_frequency": "1.0000",  # B's one order (C's c2 is no order)
            "historical_ltv": "8000.00",  # B alone bought on the web: 2,000 + 3,000 + 3,000
            "points_issued": 100,  # c2, before it was cancelled
            "points_redeemed": 500,  # b2
            "points_taken_back": 100,  # c2's cancellation
            "redemption_rate": "5.0000",  # 500 / 100: points issued earlier were spent here
            "liability_points": 250,  # B
            "liability_money": "250.00",
            "program_cost_share": "0.1667",  # 500 RUB / 3,000 RUB
        },
        "members": {"orders": 1, "revenue": "3000.00", "average_check": "3000.00"},
        "non_members": {"orders": 0, "revenue": "0.00", "average_check": None},
    }


def test_the_previous_period_sees_its_own_history(history: Engine) -> None:
    kpis = read(history, lambda uow: analytics.kpis(uow, datetime(2026, 9, 1, tzinfo=UTC), START))
    overall = kpis["overall"]
    # A and B registered; both earned in September. Nobody was active in August: churn has no denominator.
    assert (overall["registered_members"], overall["active_members"], overall["engagement"]) == (2, 2, "1.0000")
    assert overall["engagement_good"] is True
    assert overall["churn"] is None
    assert (overall["orders"], overall["revenue"], overall["average_check"]) == (3, "13000.00", "4333.33")
    assert overall["repeat_purchase_rate"] == "0.0000"  # A and B once each
    assert overall["points_issued"] == 1600  # 500 + 500 registering, a1 500, b1 100
    assert (overall["points_redeemed"], overall["redemption_rate"], overall["breakage"]) == (0, "0.0000", "0.0000")
    assert overall["liability_points"] == 1600
    assert kpis["non_members"] == {"orders": 1, "revenue": "1000.00", "average_check": "1000.00"}


def test_an_empty_period_has_no_ratios(history: Engine) -> None:
    kpis = read(
        history, lambda uow: analytics.kpis(uow, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 2, tzinfo=UTC))
    )
    overall = kpis["overall"]
    assert overall["registered_members"] == 0
    assert overall["engagement"] is None
    assert overall["average_check"] is None
    assert overall["historical_ltv"] is None
    assert overall["liability_money"] == "0.00"


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (END, START, "must be after from"),
        (START, START, "must be after from"),
        (START, START + timedelta(days=3654), "at most 3653 days"),
    ],
)
def test_a_period_that_does_not_run_forwards_is_refused(
    history: Engine, start: datetime, end: datetime, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        read(history, lambda uow: analytics.kpis(uow, start, end))
    assert refused.value.problems[0].path == "to"
    assert reason in refused.value.problems[0].reason


@pytest.mark.parametrize("split", ["", "--by channel "])
def test_the_readme_example_is_what_the_command_prints_for_this_history(history: Engine, split: str) -> None:
    """The README shows `loyalty kpi` on this history; October in the program's zone (Moscow) holds the same events."""
    command = f"$ loyalty kpi --from 2026-10-01 --to 2026-11-01 {split}--format csv\n"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    url = history.url.render_as_string(hide_password=False)
    code, output = loyalty(*command[2:].split()[1:], database=url)
    assert code == 0, output
    assert output == shown


def test_before_and_after_a_launch_side_by_side(history: Engine) -> None:
    compared = read(history, lambda uow: launches.compare(uow, START, 30))
    before = read(history, lambda uow: analytics.kpis(uow, START - timedelta(days=30), START))
    after = read(history, lambda uow: analytics.kpis(uow, START, START + timedelta(days=30)))
    assert (compared["before"]["from"], compared["after"]["to"]) == (before["from"], after["to"])
    assert compared["after"]["to"] == "2026-10-31T00:00:00+00:00"
    for part in ("overall", "members", "non_members"):
        assert list(compared[part]) == list(before[part])
        for name, moved in compared[part].items():
            was, now = before[part][name], after[part][name]
            assert (moved["before"], moved["after"]) == (was, now)
            if was is None or now is None or isinstance(was, bool):
                assert (moved["change"], moved["relative_change"]) == (None, None), name
                continue
            assert Decimal(moved["change"]) == Decimal(now) - Decimal(was), name
            if Decimal(was) == 0:
                assert moved["relative_change"] is None, name
            else:
                exact = (Fraction(Decimal(now)) - Fraction(Decimal(was))) / abs(Fraction(Decimal(was)))
                assert moved["relative_change"] == str(Decimal(round(exact * 10**4)).scaleb(-4)), name
    # by hand: September 13,000 RUB of 3 orders, October to the 31st 12,500 of 4
    assert compared["overall"]["revenue"] == {
        "before": "13000.00",
        "after": "12500.00",
        "change": "-500.00",
        "relative_change": "-0.0385",
    }
    assert compared["overall"]["engagement_good"] == {
        "before": True,
        "after": False,
        "change": None,
        "relative_change": None,
    }
    assert compared["overall"]["churn"]["before"] is None  # nobody active in August: no churn to compare with


def test_a_launch_counts_calendar_days_of_its_time_zone(history: Engine) -> None:
    """Berlin moves its clocks on 29 March 2026: the week before 1 April is 167 hours, and still 7 days."""
    launched = datetime(2026, 4, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    compared = read(history, lambda uow: launches.compare(uow, launched, 7))
    assert compared["before"] == {"from": "2026-03-25T00:00:00+01:00", "to": "2026-04-01T00:00:00+02:00"}
    assert compared["after"] == {"from": "2026-04-01T00:00:00+02:00", "to": "2026-04-08T00:00:00+02:00"}


@pytest.mark.parametrize("days", [0, -1, 1826])
def test_a_launch_with_days_out_of_range_is_refused(history: Engine, days: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        read(history, lambda uow: launches.compare(uow, START, days))
    assert refused.value.problems[0].path == "days"
    assert "between 1 and 1825" in refused.value.problems[0].reason


def test_emails_of_the_period_with_their_opens_and_clicks(engine: Engine) -> None:
    """Four emails delivered in October (one opened twice and clicked, one opened), one in September opened in
    October, an SMS: October's figures count October's emails, each open or click once."""
    publish(engine, seed_program(), effective_from=datetime(2026, 8, 1, tzinfo=UTC))
    sent = [(1, "email", day(10, 2)), (2, "email", day(10, 3)), (3, "email", day(10, 4)), (4, "email", day(10, 30))]
    sent += [(5, "email", day(9, 28)), (6, "sms", day(10, 5))]
    reactions = [("message.opened", 1, "a"), ("message.opened", 1, "b"), ("message.clicked", 1, "c")]
    reactions += [("message.opened", 2, "d"), ("message.opened", 5, "e"), ("message.clicked", 6, "f")]
    with UnitOfWork(engine) as uow:
        for delivery_id, channel, at in sent:
            uow.conn.execute(
                t.deliveries.insert().values(
                    delivery_id=delivery_id, event_id=delivery_id, account_id=None, channel=channel, target="t",
                    status="delivered", attempts=1, created_at=at, updated_at=at, delivered_at=at,
                )
            )  # fmt: skip
        for kind, delivery_id, key in reactions:
            uow.conn.execute(
                t.events.insert().values(
                    account_id=None, kind=kind, occurred_at=day(10, 20), recorded_at=day(10, 20), key=key,
                    data={"delivery_id": delivery_id},
                )
            )  # fmt: skip
        uow.commit()
    report = read(engine, lambda uow: analytics.kpis(uow, START, END))
    assert report["messages"] == {
        "emails_delivered": 4,
        "emails_opened": 2,
        "emails_clicked": 1,
        "open_rate": "0.5000",
        "click_rate": "0.2500",
    }
