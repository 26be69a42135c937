"""The economics simulator over a year of generated history, printed as one JSON line (`make bench-simulate`).

What it measures, on a fresh PostgreSQL database created for the run and dropped at the end:

* `import_seconds` — the year (`orders` orders of `members` members from `loyalty.replay.generator`, seed 7) imported
  by `loyalty orders import --create-members` under the benchmark's program (bench.imports.PROGRAM).
* `simulate_seconds` — `analytics.simulation.simulate` of the whole year under another program (7% cashback,
  182-day expiry), the history's own behaviour shares: every member and order replayed in memory, writing nothing,
  and the ledger's own month-by-month tally beside it; `simulated_orders_per_s` is orders / simulate_seconds.
* `raw_read_seconds` — the baseline: reading the same orders' stored requests and the ledger's entries (what the
  simulator reads) through the same driver, nothing else; `simulate_vs_raw_read_ratio` is how many times that the
  simulation costs.

Nothing here asserts on time; tests/bench/test_bench_simulate_smoke.py runs it small."""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.confirm import bench_database_url, fresh_database, libpq_url, log, report
from bench.imports import PROGRAM, generate, loyalty
from loyalty.analytics import simulation
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

WHAT_IF: dict[str, Any] = {
    **PROGRAM,
    "name": "7% with 6-month expiry",
    "earning": {"pending_days": 14, "rules": [{"id": "base", "name": "7% cashback", "percent": 7}]},
    "expiry": {"after_days": 182},
}


@dataclass
class Config:
    url: str
    orders: int = 50_000
    members: int = 5_000


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=None, help="default: one per ten orders")
    args = parser.parse_args(argv)
    return Config(bench_database_url(), args.orders, args.members or max(10, args.orders // 10))


def run(config: Config) -> dict[str, Any]:
    result: dict[str, Any] = {"orders": config.orders, "members": config.members, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-simulate-") as folder, fresh_database(config.url) as url:
        orders = Path(folder) / "orders.csv"
        result["lines"] = generate(orders, config.orders, config.members)
        engine = make_engine(url)
        with UnitOfWork(engine) as uow:
            programs.publish(uow, PROGRAM, datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))
            uow.commit()
        began = time.perf_counter()
        subprocess.run(
            [loyalty(), "orders", "import", str(orders), "--create-members", "--database", url],
            check=True,
            capture_output=True,
        )
        result["import_seconds"] = round(time.perf_counter() - began, 2)
        log(f"imported {config.orders} orders in {result['import_seconds']} s")
        start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
        began = time.perf_counter()
        with UnitOfWork(engine, snapshot=True) as uow:
            simulated = simulation.simulate(uow, WHAT_IF, start, end, datetime(2026, 12, 1, tzinfo=UTC))
        seconds = time.perf_counter() - began
        result["simulate_seconds"] = round(seconds, 2)
        result["simulated_orders_per_s"] = round(config.orders / seconds)
        result["simulated_months"] = len(simulated["months"])
        result["actual_points_issued"] = simulated["total"]["actual"]["points_issued"]
        result["simulated_points_issued"] = simulated["total"]["simulated"]["points_issued"]
        began = time.perf_counter()
        with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT order_key, account_id, occurred_at, request FROM orders ORDER BY occurred_at")
            read = len(cursor.fetchall())
            cursor.execute("SELECT kind, points, occurred_at FROM ledger_entries")
            read += len(cursor.fetchall())
        result["raw_read_seconds"] = round(time.perf_counter() - began, 2)
        result["raw_rows_read"] = read
        result["simulate_vs_raw_read_ratio"] = round(seconds / max(result["raw_read_seconds"], 0.01), 1)
        engine.dispose()
    return result


def main(argv: Sequence[str] | None = None) -> None:
    report(parse_args(argv), run)


if __name__ == "__main__":
    main()
