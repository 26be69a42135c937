"""`loyalty kpi`: the KPIs of a period as a table, JSON, CSV and Parquet, split or not, before vs after a launch, and
bad options refused with the option named (exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loyalty.storage.database import make_engine
from tests.cli.test_cli import loyalty
from tests.usecases import confirm, order, publish, register


@pytest.fixture
def history(database_url: str) -> str:
    """The seed program (Europe/Moscow); one member who registers and buys for 2,000 RUB in the store `north` on
    5 October, and a non-member order of 1,000 RUB naming no store."""
    engine = make_engine(database_url)
    publish(engine)
    at = datetime(2026, 10, 5, 12, tzinfo=UTC)
    register(engine, "+79120000001", at=at)
    member = {"phone": "+79120000001"}
    confirm(engine, order("m1", ("x", "2000", 1), member=member, occurred_at=at, store="north"), now=at)
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
    assert "by" not in report and "groups" not in report  # as the endpoint: no split asked, none given

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


OCTOBER = ("--from", "2026-10-01", "--to", "2026-11-01")


def test_kpi_by_store_as_csv_and_a_table(history: str) -> None:
    code, output = loyalty("kpi", *OCTOBER, "--by", "store", "--format", "csv", database=history)
    assert code == 0, output
    rows = output.splitlines()
    assert rows[0] == "kpi,overall,north,(none)"
    assert "orders,2,1,1" in rows
    assert "revenue,3000.00,2000.00,1000.00" in rows
    assert "engagement,1.0000,," in rows  # no engagement for a store
    assert "points_issued,600,100,0" in rows  # 500 for registering and 100 on m1; none on non-members' orders
    code, output = loyalty("kpi", *OCTOBER, "--by", "store", "--group", "north", database=history)
    assert code == 0, output
    assert "north" in output
    assert "(none)" not in output


def test_kpi_as_parquet_has_typed_columns_and_the_json_values(history: str, tmp_path: Path) -> None:
    code, output = loyalty("kpi", *OCTOBER, "--by", "store", "--format", "json", database=history)
    report = json.loads(output)
    target = tmp_path / "kpis.parquet"
    code, output = loyalty(
        "kpi", *OCTOBER, "--by", "store", "--format", "parquet", "--output", str(target), database=history
    )
    assert code == 0, output
    table = pq.read_table(target)
    assert table.schema.field("count").type == pa.int64()
    assert table.schema.field("money").type == pa.decimal128(38, 2)
    assert table.schema.field("ratio").type == pa.decimal128(38, 4)
    assert table.schema.field("flag").type == pa.bool_()
    assert table.schema.field("from").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert all(r["from"] == datetime(2026, 9, 30, 21, tzinfo=UTC) for r in rows)  # 1 October in Moscow
    value = {(r["by"], r["group"], r["part"], r["kpi"]): r for r in rows}
    expected = {(None, None, "all", k): v for k, v in report["overall"].items()}
    for part in ("members", "non_members"):
        expected |= {(None, None, part, k): v for k, v in report[part].items()}
    for group in report["groups"]:
        expected |= {("store", group["group"], "all", k): v for k, v in group["figures"].items()}
        for part in ("members", "non_members"):
            expected |= {("store", group["group"], part, k): v for k, v in group[part].items()}
    assert set(value) == set(expected)
    for key, shown in expected.items():
        row = value[key]
        typed = {"count": row["count"], "money": row["money"], "ratio": row["ratio"], "flag": row["flag"]}
        if shown is None:
            assert set(typed.values()) == {None}, key
        elif isinstance(shown, bool | int):
            assert typed[row["unit"] if row["unit"] in ("money", "ratio", "flag") else "count"] == shown, key
        else:
            assert typed[row["unit"]] == Decimal(shown), key


def test_kpi_before_and_after_a_launch(history: str, tmp_path: Path) -> None:
    code, output = loyalty("kpi", "--launch", "2026-10-01", "--days", "30", "--format", "json", database=history)
    assert code == 0, output
    compared = json.loads(output)
    assert compared["overall"]["revenue"] == {
        "before": "0.00",
        "after": "3000.00",
        "change": "3000.00",
        "relative_change": None,  # from nothing
    }
    code, output = loyalty("kpi", "--launch", "2026-10-01", "--days", "30", "--format", "csv", database=history)
    assert code == 0, output
    rows = output.splitlines()
    assert rows[0] == "kpi,before,after,change,relative_change"
    assert "revenue,0.00,3000.00,3000.00," in rows
    assert "members.orders,0,1,1," in rows
    target = tmp_path / "launch.parquet"
    code, output = loyalty(
        "kpi",
        "--launch",
        "2026-10-01",
        "--days",
        "30",
        "--format",
        "parquet",
        "--output",
        str(target),
        database=history,
    )
    assert code == 0, output
    rows = pq.read_table(target).to_pylist()
    revenue = next(r for r in rows if (r["part"], r["kpi"]) == ("all", "revenue"))
    assert (revenue["before"], revenue["after"], revenue["relative_change"]) == (Decimal(0), Decimal(3000), None)
    assert len(rows) == len(compared["overall"]) - 1 + len(compared["members"]) + len(compared["non_members"])


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--launch", "2026-10-01", "--days", "0"), "days: must be between 1 and 1825"),
        (("--launch", "2026-10-01", "--days", "1826"), "days: must be between 1 and 1825"),
        (("--launch", "2026-10-01"), "--days"),
        (("--launch", "2026-10-01", "--days", "7", *OCTOBER), "--from"),
        (("--from", "2026-10-01"), "--to"),
        ((*OCTOBER, "--days", "7"), "--days"),
        ((*OCTOBER, "--by", "colour"), "by: unknown dimension 'colour'"),
        ((*OCTOBER, "--by", "segment", "--group", "vip"), "segment: unknown segment 'vip'"),
        ((*OCTOBER, "--group", "vip"), "--group"),
        ((*OCTOBER, "--format", "parquet"), "--output"),
    ],
)
def test_kpi_refuses_bad_options_naming_them(history: str, args: tuple[str, ...], named: str) -> None:
    code, output = loyalty("kpi", *args, database=history)
    assert code == 2, output
    assert named in " ".join(output.split()), output
