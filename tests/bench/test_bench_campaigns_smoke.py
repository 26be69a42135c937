"""The campaigns benchmark runs end to end on a tiny size and reports every number it promises, and its campaigns
really earn. Nothing here asserts on time: the numbers only have to be there and be positive."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `bench` lives next to `src`, outside the installed package
    sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("LOYALTY_TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL or not PG_URL.startswith(("postgresql", "postgres:")),
        reason="PostgreSQL campaigns benchmark smoke test skipped: LOYALTY_TEST_DATABASE_URL is not a PostgreSQL"
        " URL; set LOYALTY_TEST_DATABASE_URL=postgresql://user@host/db",
    ),
]

POSITIVE = (
    "calculate_none_p50_ms",
    "calculate_none_p99_ms",
    "calculate_campaigns_p50_ms",
    "calculate_campaigns_p99_ms",
    "p99_ratio",
    "campaign_points_per_quote",
)
QUOTE_POSITIVE = ("quote_none_p50_ms", "quote_none_p99_ms", "quote_campaigns_p50_ms", "quote_campaigns_p99_ms")
TINY: dict[str, Any] = {
    "members": 30,
    "orders_per_member": 3,
    "samples": 40,
    "rounds": 2,
    "warmup": 5,
    "quote_iterations": 40,
}


def positive(result: dict[str, Any], key: str) -> None:
    assert key in result, f"missing {key}"
    value = result[key]
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{key} = {value!r}"
    assert math.isfinite(value) and value > 0, f"{key} = {value!r}"


def check_backend(figures: dict[str, Any]) -> None:
    for key in POSITIVE:
        positive(figures, key)
    assert figures["campaigns_in_force"] == 20
    assert figures["segments"] == 10
    assert figures["members"] == TINY["members"]
    assert figures["samples"] == TINY["samples"]
    assert figures["none_campaign_points"] == 0  # the database without campaigns really has none
    assert figures["campaigns_that_earned"] > 1
    assert sum(figures["segment_members"].values()) > 0
    for key in ("load_avg_1m_before", "load_avg_1m_after"):
        assert isinstance(figures[key], int | float) and figures[key] >= 0, key
    assert figures["calculate_none_p50_ms"] <= figures["calculate_none_p99_ms"]
    assert figures["calculate_campaigns_p50_ms"] <= figures["calculate_campaigns_p99_ms"]


def check(result: dict[str, Any], backends: tuple[str, ...]) -> None:
    for backend in backends:
        assert backend in result, f"missing {backend}"
        check_backend(result[backend])
    for key in QUOTE_POSITIVE:
        positive(result, key)
    positive(result, "quote_p99_ratio")


def test_campaigns_benchmark_on_a_tiny_size() -> None:
    from bench.campaigns import Config, run

    assert PG_URL is not None
    result = run(Config(url=PG_URL, sqlite=True, **TINY))
    check(result, ("postgresql", "sqlite"))
    # Both backends get the same members, history and requests, so the campaigns give the same points.
    assert result["postgresql"]["campaign_points_per_quote"] == result["sqlite"]["campaign_points_per_quote"]
    assert "\n" not in json.dumps(result)


def test_make_bench_campaigns_prints_one_json_line() -> None:
    assert PG_URL is not None
    args = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    done = subprocess.run(
        [sys.executable, "-m", "bench.campaigns", f"--url={PG_URL}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    check(result, ("postgresql",))
    assert "sqlite" not in result
