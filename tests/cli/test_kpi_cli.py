"""`loyalty kpi`: the KPIs of a period as a table, JSON and CSV, and a bad period refused with the option named."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from loyalty.storage.database import make_engine
from tests.cli.test_cli import loyalty
from tests.usecases import confirm, order, publish, register


@pytest.fixture
def history(database_url: str) -> str:
    """The seed program (Europe/Moscow); one member who registers and buys for 2,000 RUB on 5 October, and a
    non-member order of 1,000 RUB."""
    engine = make_engine(database_url)
    publish(engine)
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    register(engine, "+79120000001", at=at)
    confirm(engine, order("m1", ("x", "2000", 1), member={"phone": "+79120000001"}, occurred_at=at), now=at)
    confirm(engine, order("n1", ("x", "1000", 1), occurred_at=at), now=at)
    engine.dispose()
    return database_url


def test_kpi_prints_json_csv_and_a_table(history: str) -> None:
    code, output = loyalty("kpi", "--from", "2026-10-01", "--to", "2026-11-01", "--format", "json", database=history)
    assert code == 0, output
    report = json.loads(output)
    assert report["from"] == "2026-10-01T00:00:00+03:00"
    assert report["overall"]["engagement"] == "1.0000"
    assert report["overall"]["points_issued"] == 600  # 500 for registering, 100 on 2,000 RUB
    assert report["members"] == {"orders": 1, "revenue": "2000.00", "average_check": "2000.00"}

    code, output = loyalty("kpi", "--from", "2026-10-01", "--to", "2026-11-01", "--format", "csv", database=history)
    assert code == 0, output
    rows = output.splitlines()
    assert rows[0] == "kpi,overall,members,non_members"
    assert "engagement,1.0000,," in rows
    assert "engagement_good,yes,," in rows
    assert "churn,,," in rows  # nobody was active in September: no figure, not 0
    assert "average_check,1500.00,2000.00,1000.00" in rows
    assert len(rows) == 1 + len(report["overall"])

    code, output = loyalty("kpi", "--from", "2026-10-01", "--to", "2026-11-01", database=history)
    assert code == 0, output
    assert "engagement" in output
    assert "1500.00" in output
    assert "RUB" in output


def test_kpi_refuses_a_period_that_ends_before_it_starts(history: str) -> None:
    code, output = loyalty("kpi", "--from", "2026-11-01", "--to", "2026-10-01", database=history)
    assert code == 2
    assert "to: must be after from" in output
    code, output = loyalty("kpi", "--from", "1 October", "--to", "2026-10-01", database=history)
    assert code == 2
    assert "--from" in output
