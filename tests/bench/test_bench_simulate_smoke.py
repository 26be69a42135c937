"""The simulator benchmark runs end to end on a tiny history and reports every figure it promises. Nothing here
asserts on time: the figures only have to be there and be positive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("LOYALTY_TEST_DATABASE_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL,
        reason="PostgreSQL benchmark smoke test skipped: set LOYALTY_TEST_DATABASE_URL=postgresql://user@host/db",
    ),
]


def test_make_bench_simulate_prints_one_json_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.simulate", "--orders=1200", "--members=150"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "LOYALTY_BENCH_DATABASE_URL": PG_URL or ""},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    for figure in ("import_seconds", "simulate_seconds", "simulated_orders_per_s", "raw_read_seconds", "raw_rows_read"):
        assert result[figure] > 0, (figure, result)
    assert result["simulated_months"] == 12
    assert result["simulated_points_issued"] > result["actual_points_issued"] > 0  # 7% against 5%
