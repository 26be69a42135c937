"""The import benchmark runs end to end on a tiny history and reports every figure it promises, replaying in bulk
on both databases. Nothing here asserts on time: the figures only have to be there and be positive."""

from __future__ import annotations

from tests.bench.runs import ON_POSTGRES, one_json_line

pytestmark = ON_POSTGRES


def test_make_bench_import_prints_one_json_line() -> None:
    result = one_json_line("bench.imports", "--orders=1500", "--members=200")
    assert result["orders"] == 1500 and result["lines"] > 1500
    for name in ("sqlite", "postgresql"):
        for figure in ("seconds", "orders_per_s", "peak_mb", "raw_seconds", "import_vs_raw_ratio"):
            assert result[f"{name}_{figure}"] > 0, (name, figure, result)
        assert result[f"{name}_one_by_one"] is False
