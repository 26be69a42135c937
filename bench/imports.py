"""The bulk import of a generated history, printed as one JSON line (`make bench-import`).

What it measures, in one run:

* `generate_seconds` — `loyalty.replay.generator` writing `orders` orders of `members` members (seed 7, a year from
  2025-01-01) to orders.csv in a temporary folder.
* `sqlite_*`, `postgresql_*` — `loyalty orders import orders.csv --create-members` (the product's command, in a
  process of its own, on a fresh migrated database with the benchmark's program published): seconds, orders/s and
  the process's peak resident memory (`ru_maxrss` of that child, as `/usr/bin/time -v` reports it).
* `*_raw_seconds` — the baseline: the same file's rows (one per order line, every column) put into a bare table of
  the same database by the same driver — PostgreSQL `COPY ... FROM STDIN (FORMAT csv)` streamed from the file, SQLite
  one `executemany` — so `*_import_vs_raw_ratio` is how many times the raw load the import costs (it validates,
  prices, registers members and writes ~6 rows per order where the raw load writes ~2.5 lines).

Nothing here asserts on time; tests/bench/test_bench_import_smoke.py runs it small."""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.confirm import bench_database_url, fresh_database, libpq_url, log, report
from loyalty.program import service as programs
from loyalty.replay.generator import History, HistoryShape
from loyalty.storage.database import UnitOfWork, make_engine
from loyalty.storage.migrate import upgrade

PROGRAM: dict[str, Any] = {
    "name": "Benchmark import",
    "currency": "RUB",
    "timezone": "Europe/Moscow",
    "earning": {"pending_days": 14, "rules": [{"id": "base", "name": "Cashback", "percent": 5}]},
    "redemption": {"min_check": "1000", "max_share_percent": 99},
    "expiry": {"after_days": 365},
    "actions": {"registration": {"points": 500}},
    "tiers": {
        "period": "rolling",
        "rolling_days": 365,
        "levels": [
            {"id": "silver", "name": "Silver", "from": "0"},
            {"id": "gold", "name": "Gold", "from": "15000", "multiplier": "1.5"},
        ],
    },
}
BARE = (
    "order_id text, member_external_id text, occurred_at text, line_id text, sku text, category text, "
    "quantity integer, price numeric, discount numeric, points integer, channel text, store text"
)


@dataclass
class Config:
    url: str
    orders: int = 200_000
    members: int = 20_000
    sqlite: bool = True
    postgresql: bool = True


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=None, help="default: one per ten orders")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args(argv)
    members = args.members or max(10, args.orders // 10)
    return Config(bench_database_url(), args.orders, members, not args.no_sqlite, not args.no_postgresql)


def run(config: Config) -> dict[str, Any]:
    result: dict[str, Any] = {"orders": config.orders, "members": config.members, "cpus": os.cpu_count()}
    result["python"] = platform.python_version()
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-import-") as folder:
        orders = Path(folder) / "orders.csv"
        began = time.perf_counter()
        lines = generate(orders, config.orders, config.members)
        result["lines"] = lines
        result["generate_seconds"] = round(time.perf_counter() - began, 2)
        log(f"generated {config.orders} orders ({lines} lines) in {result['generate_seconds']} s")
        if config.sqlite:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            upgrade(url)
            result.update(measure("sqlite", url, orders, config))
            raw = f"{Path(folder) / 'raw.db'}"
            result["sqlite_raw_seconds"] = timed(lambda: sqlite_raw(raw, orders))
            result["sqlite_import_vs_raw_ratio"] = ratio(result["sqlite_seconds"], result["sqlite_raw_seconds"])
        if config.postgresql:
            with fresh_database(config.url) as url:
                result.update(measure("postgresql", url, orders, config))
            with fresh_database(config.url) as url:
                result["postgresql_raw_seconds"] = timed(lambda: postgresql_raw(url, orders))
            result["postgresql_import_vs_raw_ratio"] = ratio(
                result["postgresql_seconds"], result["postgresql_raw_seconds"]
            )
    return result


def generate(path: Path, orders: int, members: int) -> int:
    """`orders` orders of `members` members, a year from 2025-01-01 (seed 7), into `path`; the lines written."""
    shape = HistoryShape(members=members, orders=orders, seed=7, start=date(2025, 1, 1))
    lines = 0
    with path.open("w", encoding="utf-8") as handle:
        for day in History(shape).order_chunks():
            handle.write(day.text)
            lines += day.lines
    return lines


def measure(name: str, url: str, orders: Path, config: Config) -> dict[str, Any]:
    """The product's import command on `url`, in a process of its own: seconds, orders/s, peak memory."""
    engine = make_engine(url)
    with UnitOfWork(engine) as uow:
        programs.publish(uow, PROGRAM, datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))
        uow.commit()
    engine.dispose()
    command = [loyalty(), "orders", "import", str(orders), "--create-members", "--database", url]
    log(f"{name}: importing")
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    output = process.stdout.read().decode() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name} import failed: {output}")
    log(f"{name}: {output.strip()}")
    return {
        f"{name}_seconds": round(seconds, 2),
        f"{name}_orders_per_s": round(config.orders / seconds),
        f"{name}_peak_mb": round(usage.ru_maxrss / 1024),
        f"{name}_one_by_one": "one by one" in output,
    }


def loyalty() -> str:
    return str(Path(sys.executable).with_name("loyalty"))


def sqlite_raw(path: str, orders: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, orders.open(newline="", encoding="utf-8") as handle:
        conn.execute(f"CREATE TABLE bare ({BARE})")
        reader = csv.reader(handle)
        next(reader)
        for chunk in chunks(reader, 50_000):
            conn.executemany(f"INSERT INTO bare VALUES ({', '.join('?' * 12)})", chunk)
        conn.commit()


def postgresql_raw(url: str, orders: Path) -> None:
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor, orders.open("rb") as handle:
        cursor.execute(f"CREATE TABLE bare ({BARE})")
        with cursor.copy("COPY bare FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while block := handle.read(1 << 20):
                copy.write(block)


def chunks(rows: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    chunk: list[list[str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def timed(work: Any) -> float:
    began = time.perf_counter()
    work()
    return round(time.perf_counter() - began, 2)


def ratio(product: float, raw: float) -> float | None:
    return round(product / raw, 1) if raw else None


def main(argv: Sequence[str] | None = None) -> None:
    report(parse_args(argv), run)


if __name__ == "__main__":
    main()
