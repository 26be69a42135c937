"""The KPI benchmark runs end to end on a tiny generated year, on both databases, and reports every figure it
promises; DuckDB's aggregation over the Parquet export agrees with the product's figures. Nothing here asserts on
time: the figures only have to be there and be positive."""

from __future__ import annotations

from tests.bench.runs import ON_POSTGRES, one_json_line

pytestmark = ON_POSTGRES


def test_make_bench_kpis_prints_one_json_line() -> None:
    result = one_json_line("bench.kpis", "--orders=1500", "--members=150")
    assert (result["orders"], result["members"]) == (1500, 150)
    for name in ("sqlite", "postgresql"):
        assert result[f"{name}_orders"] == 1500 and result[f"{name}_lines"] > 1500, result
        for figure in ("load_seconds", "kpis_seconds", "kpis_peak_mb", "export_seconds", "duckdb_seconds"):
            assert result[f"{name}_{figure}"] > 0, (name, figure, result)
        assert set(result[f"{name}_kpis_by_seconds"]) == {"overall", "segment", "tier", "store", "channel", "city"}
        assert result[f"{name}_kpis_vs_duckdb_ratio"] > 0
        assert result[f"{name}_duckdb_agrees"] is True, result
        assert result[f"{name}_groups"]["segment"] == 5  # the spend quintiles, computed after the load
    assert result["load_before"] >= 0 and result["peak_mb"] > 0
