"""The jobs benchmark runs end to end on a tiny size and reports every figure it promises, with a clean audit and
the product writing what the hand-written SQL writes. Nothing here asserts on time: the figures only have to be
there and be positive."""

from __future__ import annotations

import math

from tests.bench.runs import ON_POSTGRES, PG_URL, one_json_line

pytestmark = ON_POSTGRES

POSITIVE = ("expire_seconds", "raw_seconds", "expire_vs_raw_ratio", "tiers_seconds", "expired_points")


def test_make_bench_jobs_prints_one_json_line_with_a_clean_audit() -> None:
    assert PG_URL is not None
    result = one_json_line("bench.jobs", f"--database={PG_URL}", "--accounts=120", "--lots=4", "--batch=50")
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
