"""The import benchmark runs end to end on a tiny history and reports every figure it promises, replaying in bulk
on both databases. Nothing here asserts on time: the figures only have to be there and be positive."""

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


def test_make_bench_import_prints_one_json_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.imports", "--orders=1500", "--members=200"],
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
    assert result["orders"] == 1500 and result["lines"] > 1500
    for name in ("sqlite", "postgresql"):
        for figure in ("seconds", "orders_per_s", "peak_mb", "raw_seconds", "import_vs_raw_ratio"):
            assert result[f"{name}_{figure}"] > 0, (name, figure, result)
        assert result[f"{name}_one_by_one"] is False
