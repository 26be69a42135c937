"""Every KPI of a generated year next to one raw DuckDB aggregation over a Parquet export of the same facts, printed
as one JSON line (`make bench-kpis`).

What it measures, in one run:

* `generate_seconds` — `loyalty generate` (the product's command, seed 7, a year from 2025-01-01, one member per ten
  orders by default) writing stores.csv, members.csv and orders.csv to a temporary folder.
* `{db}_load_seconds`, `{db}_load_peak_mb` — the product's bulk import of those files into a fresh migrated database
  under the benchmark's program (bench.imports.PROGRAM): `loyalty stores import`, `loyalty members import`, `loyalty
  orders import --redeem` (members pay with points where the program lets them), each a process of its own (the
  peak is the largest child's `ru_maxrss`); then five rule segments (the RFM monetary quintiles) computed as of the
  year's end by `segments.recompute`, so that the segment split has groups. `{db}_orders`, `{db}_lines`,
  `{db}_entries`: what the database then holds. `{db}_analyze_seconds`: gathering the planner's statistics (`VACUUM
  (ANALYZE)`, SQLite `ANALYZE`), as a server's autovacuum would after the load (see `analyze`).
* `{db}_kpis_seconds` — ALL the KPIs of the year through the product's `analytics.service.kpis`, each report in a
  read-only unit of work as the endpoint opens it: the whole program (with members vs non-members and the emails)
  and split by every dimension (segment, tier, store, channel, city); `{db}_kpis_by_seconds` gives each report's
  seconds (`overall` is the report without a split; each split report holds the whole program's figures too).
  They run in a process of their own: `{db}_kpis_peak_mb` is its peak resident memory (`resource.getrusage`).
* `{db}_export_seconds` — the facts (orders, order lines, ledger entries: the columns the KPIs read) read through
  SQLAlchemy and written as Parquet with pyarrow, a chunk at a time.
* `{db}_duckdb_seconds` — the baseline: one DuckDB statement over those Parquet files computing the year's core
  figures (orders, revenue, members' orders, buying and repeat members, active members, points issued, redeemed
  and expired). `{db}_kpis_vs_duckdb_ratio` is how many times that the product's KPIs cost, and
  `{db}_duckdb_agrees` says whether DuckDB's figures equal the product's (they must).
* `load_before`, `load_after`: the 1-minute load average around the run; `peak_mb`: this process's peak at the end.

`--database URL` measures a database loaded before (by `--keep`, which keeps the databases and logs their URLs)
instead of generating and loading one. Nothing here asserts on time; tests/bench/test_bench_kpis_smoke.py runs it small."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select

from bench.confirm import bench_database_url, fresh_database, log, report
from bench.imports import PROGRAM, loyalty
from loyalty.analytics import service as analytics
from loyalty.analytics.dimensions import DIMENSIONS
from loyalty.program import service as programs
from loyalty.segments import service as segments
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine
from loyalty.storage.migrate import upgrade

ZONE = ZoneInfo("Europe/Moscow")  # the program's and the generator's
START, END = datetime(2025, 1, 1, tzinfo=ZONE), datetime(2026, 1, 1, tzinfo=ZONE)
SEGMENTS = [
    {
        "segment_id": f"spend-q{q}",
        "name": f"Spend quintile {q}",
        "conditions": [{"monetary_score": {"min": q, "max": q}}],
    }
    for q in range(1, 6)
]
# The facts the baseline reads: per table, the columns and their Arrow types.
FACTS: dict[str, list[tuple[str, pa.DataType]]] = {
    "orders": [
        ("order_key", pa.string()),
        ("account_id", pa.int64()),
        ("status", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("channel", pa.string()),
        ("store", pa.string()),
    ],
    "order_lines": [
        ("order_key", pa.string()),
        ("line_no", pa.int32()),
        ("quantity", pa.int32()),
        ("amount", pa.int64()),
        ("returned_quantity", pa.int32()),
    ],
    "ledger_entries": [
        ("account_id", pa.int64()),
        ("kind", pa.string()),
        ("points", pa.int64()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("program_version", pa.int32()),
        ("order_key", pa.string()),
    ],
}
# The year's core figures in one statement: the orders and their nets as the KPIs count them (analytics.counts),
# and the period's ledger entries.
DUCKDB_AGGREGATION = """
WITH nets AS (
    SELECT o.order_key, any_value(o.account_id) AS account_id,
           sum(l.amount - (l.amount * l.returned_quantity) // l.quantity) AS net,
           max(CASE WHEN l.returned_quantity < l.quantity THEN 1 ELSE 0 END) AS bought
    FROM read_parquet($orders) o JOIN read_parquet($lines) l ON l.order_key = o.order_key
    WHERE o.status IN ('confirmed', 'cancelled') AND o.occurred_at >= $start AND o.occurred_at < $end
    GROUP BY o.order_key
), buyers AS (
    SELECT account_id, sum(bought) AS n FROM nets WHERE account_id IS NOT NULL GROUP BY account_id
), period AS (
    SELECT * FROM read_parquet($entries) WHERE occurred_at >= $start AND occurred_at < $end
)
SELECT
    (SELECT sum(bought) FROM nets) AS orders,
    (SELECT sum(net) FROM nets) AS revenue,
    (SELECT sum(bought) FROM nets WHERE account_id IS NOT NULL) AS member_orders,
    (SELECT count(*) FILTER (WHERE n >= 1) FROM buyers) AS buying_members,
    (SELECT count(*) FILTER (WHERE n >= 2) FROM buyers) AS repeat_members,
    (SELECT count(DISTINCT account_id) FROM period WHERE kind IN ('earn', 'spend')) AS active_members,
    (SELECT coalesce(sum(points), 0) FROM period WHERE kind IN ('earn', 'action', 'adjust') AND points > 0)
        AS points_issued,
    (SELECT coalesce(-sum(points), 0) FROM period WHERE kind IN ('spend', 'return_spent')) AS points_redeemed,
    (SELECT coalesce(-sum(points), 0) FROM period WHERE kind = 'expire' AND points < 0) AS points_expired
"""


@dataclass
class Config:
    url: str
    orders: int = 200_000
    members: int = 20_000
    sqlite: bool = True
    postgresql: bool = True
    database: str | None = None  # measure this loaded database instead
    keep: bool = False


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=None, help="default: one per ten orders")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--database", default=None, help="measure this database, loaded before, instead")
    parser.add_argument("--keep", action="store_true", help="keep the databases (their URLs are logged)")
    args = parser.parse_args(argv)
    members = args.members or max(10, args.orders // 10)
    return Config(
        bench_database_url(),
        args.orders,
        members,
        not args.no_sqlite,
        not args.no_postgresql,
        args.database,
        args.keep,
    )


def run(config: Config) -> dict[str, Any]:
    result: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    result["duckdb"] = duckdb.__version__
    result["load_before"] = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-kpis-") as folder:
        here = Path(folder)
        if config.database is not None:
            name = make_engine(config.database).dialect.name
            result.update(measure(name, config.database, here))
        else:
            result.update({"orders": config.orders, "members": config.members})
            began = time.perf_counter()
            generate(here, config.orders, config.members)
            result["generate_seconds"] = round(time.perf_counter() - began, 2)
            if config.postgresql:
                with fresh_database(config.url, keep=config.keep) as url:
                    result.update(load("postgresql", url, here))
                    result.update(measure("postgresql", url, here))
            if config.sqlite:
                kept = Path(tempfile.mkdtemp(prefix="loyalty-bench-kpis-")) if config.keep else here
                url = f"sqlite:///{kept / 'kpis.db'}"
                if config.keep:
                    log(f"kept {url}")
                upgrade(url)
                result.update(load("sqlite", url, here))
                result.update(measure("sqlite", url, here))
    result["load_after"] = round(os.getloadavg()[0], 2)
    result["peak_mb"] = peak_mb()
    return result


def generate(folder: Path, orders: int, members: int) -> None:
    command = [loyalty(), "generate", f"--orders={orders}", f"--members={members}", "--seed=7"]
    subprocess.run([*command, "--start=2025-01-01", f"--out={folder}"], check=True, capture_output=True)
    log(f"generated {orders} orders of {members} members")


def load(name: str, url: str, folder: Path) -> dict[str, Any]:
    """The generated files into `url` through the product's imports, then the segments computed."""
    engine = make_engine(url)
    at = datetime(2022, 1, 1, tzinfo=UTC)
    with UnitOfWork(engine) as uow:
        programs.publish(uow, PROGRAM, at, at)
        for segment in SEGMENTS:
            segments.create(uow, segment, at)
        uow.commit()
    began = time.perf_counter()
    peak = 0
    for command in (
        ["stores", "import", str(folder / "stores.csv")],
        ["members", "import", str(folder / "members.csv")],
        ["orders", "import", str(folder / "orders.csv"), "--redeem"],
    ):
        peak = max(peak, child([loyalty(), *command, "--database", url]))
    segments.recompute(engine, END)
    seconds = time.perf_counter() - began
    log(f"{name}: loaded in {seconds:.1f} s")
    began = time.perf_counter()
    analyze(engine)
    analyze_seconds = time.perf_counter() - began
    with UnitOfWork(engine, read_only=True) as uow:
        held = {
            f"{name}_{label}": int(uow.conn.execute(select(func.count()).select_from(table)).scalar_one())
            for label, table in (("orders", t.orders), ("lines", t.order_lines), ("entries", t.ledger_entries))
        }
    engine.dispose()
    return {
        f"{name}_load_seconds": round(seconds, 2),
        f"{name}_load_peak_mb": peak,
        f"{name}_analyze_seconds": round(analyze_seconds, 2),
        **held,
    }


def analyze(engine: Engine) -> None:
    """The planner's statistics of the loaded tables (and, on PostgreSQL, the visibility map that index-only scans
    need), as autovacuum gathers them within a minute or so of a bulk load on a server that runs it (the test
    server may not: without them PostgreSQL plans the year's 200,000 orders as 9 and takes 2-3 times as long)."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def child(command: list[str]) -> int:
    """Run a command of the product in a process of its own; its peak resident memory in MB."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    output = (process.stdout.read() if process.stdout else b"") + (process.stderr.read() if process.stderr else b"")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[1:3])} failed: {output.decode()}")
    log(output.decode().strip().splitlines()[-1] if output.strip() else " ".join(command[1:3]))
    return round(usage.ru_maxrss / 1024)


def measure(name: str, url: str, folder: Path) -> dict[str, Any]:
    """Every KPI report of the year on `url` (in a process of its own, so that its peak memory is the KPIs'
    alone), then the export and the DuckDB baseline."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        by_seconds, reports, kpis_peak = pool.submit(every_kpi, name, url).result()
    kpis_seconds = sum(by_seconds.values())
    engine = make_engine(url)
    began = time.perf_counter()
    files = export(engine, folder / name)
    export_seconds = time.perf_counter() - began
    engine.dispose()
    began = time.perf_counter()
    raw = aggregate(files)
    duckdb_seconds = time.perf_counter() - began
    log(f"{name}: DuckDB in {duckdb_seconds:.3f} s: {raw}")
    product = product_figures(reports["overall"])
    agrees = product == {k: raw[k] for k in product}
    if not agrees:
        log(f"{name}: DuckDB disagrees: product {product}")
    return {
        f"{name}_kpis_seconds": round(kpis_seconds, 2),
        f"{name}_kpis_by_seconds": by_seconds,
        f"{name}_kpis_peak_mb": kpis_peak,
        f"{name}_groups": {split: len(reports[split]["groups"]) for split in DIMENSIONS},
        f"{name}_export_seconds": round(export_seconds, 2),
        f"{name}_duckdb_seconds": round(duckdb_seconds, 3),
        f"{name}_kpis_vs_duckdb_ratio": round(kpis_seconds / max(duckdb_seconds, 1e-6), 1),
        f"{name}_duckdb_agrees": agrees,
    }


def every_kpi(name: str, url: str) -> tuple[dict[str, float], dict[str, dict[str, Any]], int]:
    """Each KPI report of the year, timed: without a split, then split by every dimension; the reports, and this
    process's peak memory after them."""
    engine = make_engine(url)
    by_seconds: dict[str, float] = {}
    reports: dict[str, dict[str, Any]] = {}
    for split in (None, *DIMENSIONS):
        began = time.perf_counter()
        with UnitOfWork(engine, read_only=True) as uow:
            reports[split or "overall"] = analytics.kpis(uow, START, END, by=split, now=END)
        by_seconds[split or "overall"] = round(time.perf_counter() - began, 3)
        log(f"{name}: KPIs {split or 'overall'} in {by_seconds[split or 'overall']} s")
    engine.dispose()
    return by_seconds, reports, peak_mb()


def product_figures(report: dict[str, Any]) -> dict[str, int]:
    """The figures of the product's whole-program report that the DuckDB statement computes too, exactly (the
    buying and repeat members only show in the product's report as rounded ratios)."""
    overall = report["overall"]
    return {
        "orders": overall["orders"],
        "revenue": int(Decimal(overall["revenue"]) * 100),  # the benchmark's program counts RUB in kopecks
        "member_orders": report["members"]["orders"],
        "active_members": overall["active_members"],
        "points_issued": overall["points_issued"],
        "points_redeemed": overall["points_redeemed"],
        "points_expired": overall["points_expired"],
    }


def export(engine: Any, folder: Path) -> dict[str, Path]:
    """The facts the baseline reads, a Parquet file per table, a chunk of rows at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for table, columns in FACTS.items():
        schema = pa.schema(columns)
        path = folder / f"{table}.parquet"
        source = t.metadata.tables[table]
        query = select(*(source.c[column] for column, _ in columns))
        with engine.connect() as conn, pq.ParquetWriter(path, schema) as writer:
            for rows in chunks(conn.execution_options(stream_results=True, yield_per=200_000).execute(query)):
                arrays = [pa.array([row[i] for row in rows], type=kind) for i, (_, kind) in enumerate(columns)]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        files[table] = path
    return files


def chunks(result: Any) -> Iterator[list[Any]]:
    yield from result.partitions()


def aggregate(files: dict[str, Path]) -> dict[str, int]:
    """The DuckDB statement over the Parquet files, in a fresh in-memory database."""
    with connected() as conn:
        row = conn.execute(
            DUCKDB_AGGREGATION,
            {
                "orders": str(files["orders"]),
                "lines": str(files["order_lines"]),
                "entries": str(files["ledger_entries"]),
                "start": START,
                "end": END,
            },
        ).fetchone()
        names = [d[0] for d in conn.description or []]
    assert row is not None
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


@contextmanager
def connected() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    try:
        yield conn
    finally:
        conn.close()


def peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main(argv: Sequence[str] | None = None) -> None:
    report(parse_args(argv), run)


if __name__ == "__main__":
    main()
