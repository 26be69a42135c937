"""The KPIs of the whole CDNOW sample (6,919 orders of 2,357 customers, 1997–98), imported through the command line
under the demo program, against figures computed here from the file alone, in plain Python.

The demo program: 500 points for registering (at the first order), 5% cashback plus 1,000 points for every full
10,000 ₽, rounded down; the import reads dollars as roubles at 100 ₽ per $ and registers customers at their first
order; no points are spent and no job runs, so nothing expires."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import loyalty

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "cdnow_sample.txt"
SAMPLE = SHARED if SHARED.exists() else ROOT / "src" / "loyalty" / "demo" / "cdnow_sample.txt"
MOSCOW = timedelta(hours=3)  # the demo program's zone: no daylight saving since 2014, UTC+3 in 1997 as now for bounds
FOUR = Decimal("0.0001")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Order:
    customer: str
    day: date
    kopecks: int


def orders() -> list[Order]:
    found = []
    for line in SAMPLE.read_text().splitlines():
        customer, _, day, _, amount = line.split()
        kopecks = int((Decimal(amount) * 100 * 100).quantize(Decimal(1)))
        found.append(Order(customer, date(int(day[:4]), int(day[4:6]), int(day[6:])), kopecks))
    return found


def earned(kopecks: int) -> int:
    return kopecks * 5 // (100 * 100) + 1000 * (kopecks // 1_000_000)


def ratio(part: int, whole: int) -> str | None:
    return str((Decimal(part) / Decimal(whole)).quantize(FOUR, ROUND_HALF_EVEN)) if whole else None


def money(kopecks: int | Decimal) -> str:
    return str((Decimal(kopecks) / 100).quantize(CENT, ROUND_HALF_EVEN))


def expected(history: list[Order], start: date, end: date) -> dict[str, Any]:
    """The KPIs of [start, end) (days; orders happen at noon UTC, inside the same Moscow day)."""
    first: dict[str, date] = {}
    for o in sorted(history, key=lambda o: o.day):
        first.setdefault(o.customer, o.day)
    previous = start - (end - start)
    in_period = [o for o in history if start <= o.day < end]
    active = {o.customer for o in in_period if earned(o.kopecks) > 0}
    active_before = {o.customer for o in history if previous <= o.day < start and earned(o.kopecks) > 0}
    registered = [c for c, d in first.items() if d < end]
    per_customer: dict[str, int] = defaultdict(int)
    for o in in_period:
        per_customer[o.customer] += 1
    revenue = sum(o.kopecks for o in in_period)
    issued = sum(earned(o.kopecks) for o in in_period) + 500 * sum(1 for d in first.values() if start <= d < end)
    liability = sum(earned(o.kopecks) for o in history if o.day < end) + 500 * len(registered)
    lifetime = sum(o.kopecks for o in history if o.day < end)
    average = Decimal(revenue) / len(in_period) if in_period else None
    return {
        "registered_members": len(registered),
        "active_members": len(active),
        "engagement": ratio(len(active), len(registered)),
        "churn": ratio(len(active_before - active), len(active_before)),
        "orders": len(in_period),
        "revenue": money(revenue),
        "average_check": money(average) if average is not None else None,
        "repeat_purchase_rate": ratio(sum(1 for n in per_customer.values() if n >= 2), len(per_customer)),
        "purchase_frequency": ratio(len(in_period), len(per_customer)),
        "historical_ltv": money(Decimal(lifetime) / len(registered)) if registered else None,
        "points_issued": issued,
        "points_redeemed": 0,
        "points_expired": 0,
        "liability_points": liability,
        "liability_money": money(liability * 100),
        "program_cost_share": ratio(0, revenue),
    }


@pytest.mark.parametrize(("start", "end"), [(date(1997, 3, 1), date(1997, 4, 1)), (date(1997, 1, 1), date(1998, 7, 1))])
def test_the_kpis_of_the_cdnow_sample_agree_with_the_file(database_url: str, start: date, end: date) -> None:
    code, output = loyalty(
        "program",
        "publish",
        str(ROOT / "src" / "loyalty" / "demo" / "program.yaml"),
        "--effective-from",
        "1997-01-01T00:00:00+03:00",
        database=database_url,
    )
    assert code == 0, output
    code, output = loyalty("orders", "import", str(SAMPLE), "--format", "cdnow", "--rate", "100", database=database_url)
    assert code == 0, output
    assert "6919 imported" in output and "one by one" not in output
    code, output = loyalty(
        "kpi", "--from", start.isoformat(), "--to", end.isoformat(), "--format", "json", database=database_url
    )
    assert code == 0, output
    overall = json.loads(output)["overall"]
    want = expected(orders(), start, end)
    assert {k: overall[k] for k in want} == want
    assert (
        datetime.fromisoformat(json.loads(output)["from"]) == datetime.combine(start, datetime.min.time(), UTC) - MOSCOW
    )
