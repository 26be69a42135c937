"""The jobs benchmark runs end to end on a tiny size and reports every figure it promises, with a clean audit and
the product writing what the hand-written SQL writes. Nothing here asserts on time: the figures only have to be
there and be positive."""

from __future__ import annotations

import json
import math
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

POSITIVE = ("expire_seconds", "raw_seconds", "expire_vs_raw_ratio", "tiers_seconds", "expired_points")


def test_make_bench_jobs_prints_one_json_line_with_a_clean_audit() -> None:
    assert PG_URL is not None
    done = subprocess.run(
        [sys.executable, "-m", "bench.jobs", f"--database={PG_URL}", "--accounts=120", "--lots=4", "--batch=50"],
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
    for key in POSITIVE:
        value = result[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{key} = {value!r}"
        assert math.isfinite(value) and value > 0, f"{key} = {value!r}"
    assert (result["accounts"], result["lots"], result["batch"]) == (120, 480, 50)
    assert result["expired_accounts"] == 120
    assert result["expired_points"] == 120 * 3 * 100  # four in five of 4 lots of 100 points: 3 per account
    assert result["tiers_upgraded"] > 0
    assert result["same_as_raw"] is True
    assert result["audit_violations"] == 0
    assert result["raw_audit_violations"] == 0
