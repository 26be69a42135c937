"""The simulator benchmark runs end to end on a tiny history and reports every figure it promises. Nothing here
asserts on time: the figures only have to be there and be positive."""

from __future__ import annotations

from tests.bench.runs import ON_POSTGRES, one_json_line

pytestmark = ON_POSTGRES


def test_make_bench_simulate_prints_one_json_line() -> None:
    result = one_json_line("bench.simulate", "--orders=1200", "--members=150")
    for figure in ("import_seconds", "simulate_seconds", "simulated_orders_per_s", "raw_read_seconds", "raw_rows_read"):
        assert result[figure] > 0, (figure, result)
    assert result["simulated_months"] == 12
    assert result["simulated_points_issued"] > result["actual_points_issued"] > 0  # 7% against 5%
