"""The benchmark runs end to end on a tiny size and reports every number it promises. Nothing here asserts on
time: the numbers only have to be there and be positive."""

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
        not PG_URL,
        reason="PostgreSQL benchmark smoke test skipped: set LOYALTY_TEST_DATABASE_URL=postgresql://user@host/db",
    ),
]

POSITIVE = (
    "confirm_per_s",
    "raw_confirm_per_s",
    "confirm_vs_raw_ratio",
    "calculate_p50_ms",
    "calculate_p99_ms",
    "calculate_sqlite_p50_ms",
    "calculate_sqlite_p99_ms",
    "quote_p50_ms",
    "quote_p99_ms",
    "confirm_latency_p50_ms",
    "raw_confirm_latency_p50_ms",
    "cpu_count",
)
TINY = {"workers": 2, "members": 20, "orders": 20, "rounds": 1, "warmup_orders": 2}
TINY_LATENCY = {"calc_iterations": 30, "calc_warmup": 5, "quote_iterations": 30}


def check(result: dict[str, Any]) -> None:
    for key in POSITIVE:
        assert key in result, f"missing {key}"
        value = result[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{key} = {value!r}"
        assert math.isfinite(value) and value > 0, f"{key} = {value!r}"
    assert result["workers"] == 2
    assert result["confirm_orders"] == result["raw_orders"] == 20
    assert result["calculate_p50_ms"] <= result["calculate_p99_ms"]
    assert result["quote_p50_ms"] <= result["quote_p99_ms"]
    # The raw baseline writes the real tables by hand; the ledger audit proves it wrote them consistently.
    assert result["audit_violations"] == 0


def test_benchmark_functions_on_a_tiny_size() -> None:
    from bench.confirm import Config, run

    assert PG_URL is not None
    result = run(Config(url=PG_URL, **TINY, **TINY_LATENCY))
    check(result)
    assert "\n" not in json.dumps(result)


def test_make_bench_prints_one_json_line() -> None:
    assert PG_URL is not None
    args = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY, **TINY_LATENCY}.items()]
    done = subprocess.run(
        [sys.executable, "-m", "bench.confirm", f"--database={PG_URL}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    check(json.loads(lines[0]))
