"""`make bench-http` runs end to end on a tiny size: wrk against the ceiling and the product, and the checks that
make its numbers worth reading (the audit, every 2xx an order, no errors). Nothing here asserts on time."""

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


# Enough members that none runs out of points: the in-process modes, the ceiling and the product all spend from the
# same accounts (5,000 points each), about 20 points per order on average, and an idle machine confirms thousands.
TINY = {"members": 200, "duration": 1, "warmup": 1, "inprocess_workers": 2}
POSITIVE = (
    "http_confirm_per_s",
    "ceiling_confirm_per_s",
    "http_confirm_vs_ceiling_ratio",
    "http_confirm_p50_ms",
    "http_confirm_p99_ms",
    "ceiling_confirm_p50_ms",
    "ceiling_confirm_p99_ms",
    "http_calculate_per_s",
    "http_calculate_p50_ms",
    "http_calculate_p99_ms",
    "inprocess_confirm_per_s",
    "inprocess_raw_confirm_per_s",
    "http_vs_inprocess_ratio",
    "http_confirm_ok",
    "orders_recorded",
    "ceiling_confirm_ok",
    "ceiling_orders_recorded",
    "server_workers",
    "connections",
    "duration_s",
    "cpu_count",
)
ZERO = ("http_confirm_errors", "http_confirm_non_2xx", "http_calculate_errors", "ceiling_confirm_errors")
LOAD = ("load_avg_1m_before", "load_avg_1m_after")


def number(result: dict[str, Any], key: str) -> float:
    assert key in result, f"missing {key}"
    value = result[key]
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{key} = {value!r}"
    assert math.isfinite(value), f"{key} = {value!r}"
    return float(value)


def test_without_wrk_and_root_the_benchmark_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.http

    monkeypatch.setattr(bench.http.shutil, "which", lambda _name: None)
    monkeypatch.setattr(bench.http.os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeError, match=r"apt-get install -y wrk"):
        bench.http.ensure_wrk()


@pytest.mark.postgres
@pytest.mark.skipif(
    not PG_URL,
    reason="PostgreSQL benchmark smoke test skipped: set LOYALTY_TEST_DATABASE_URL=postgresql://user@host/db",
)
def test_make_bench_http_prints_one_json_line_with_every_number() -> None:
    assert PG_URL is not None
    args = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    done = subprocess.run(
        [sys.executable, "-m", "bench.http", f"--database={PG_URL}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])

    for key in POSITIVE:
        assert number(result, key) > 0, f"{key} = {result[key]!r}"
    for key in ZERO:
        assert number(result, key) == 0, f"{key} = {result[key]!r}\n{done.stderr[-5000:]}"
    for key in LOAD:
        assert number(result, key) >= 0, key
    assert result["server_workers"] == 2
    assert result["connections"] == 16
    assert result["duration_s"] == 1
    assert result["http_confirm_p50_ms"] <= result["http_confirm_p99_ms"]
    assert result["ceiling_confirm_p50_ms"] <= result["ceiling_confirm_p99_ms"]
    assert result["http_calculate_p50_ms"] <= result["http_calculate_p99_ms"]
    assert isinstance(result["wrk_version"], str) and result["wrk_version"] not in ("", "unknown")

    # The ledger audit over everything the product, the ceiling and the in-process workers wrote.
    assert result["audit_violations"] == 0
    # Every 2xx wrk saw is one confirmed order, and no other order was recorded but those of the requests wrk sent and
    # stopped waiting for at the end of its duration (at most one per connection), which the server may still write.
    for prefix, ok, orders in (
        ("http", "http_confirm_ok", "orders_recorded"),
        ("ceiling", "ceiling_confirm_ok", "ceiling_orders_recorded"),
    ):
        abandoned = result[f"{prefix}_confirm_abandoned"]
        abandoned_recorded = result[f"{prefix}_confirm_abandoned_recorded"]
        assert 0 <= abandoned_recorded <= abandoned <= result["connections"], (prefix, abandoned_recorded, abandoned)
        assert result[orders] == result[ok], (prefix, result[orders], result[ok])
    assert result["orders_recorded_total"] == result["orders_recorded"] + result["http_confirm_abandoned_recorded"]
