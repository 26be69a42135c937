"""The confirm path in one process on PostgreSQL: per-order wall time and CPU time (this process, and the server
backend's when the server runs on this machine) of the use case and of the raw baseline without a profiler, the
statements the use case sends per order, then a cProfile of the use case.

    .venv/bin/python -m bench.profile_confirm [--orders 2000] [--top 30] [--wall] [--pstats out.prof]

The profile counts CPU time by default (time.process_time), so time spent waiting for the server or for a CPU
taken by a neighbour does not blur it; --wall profiles wall-clock time instead.

Uses the same database URL, program, members and carts as bench.confirm, on a fresh database it drops at the end.
The report goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import event

from bench.confirm import (
    bench_database_url,
    cart_order,
    confirm_order,
    fresh_database,
    libpq_url,
    publish_program,
    raw_confirm,
    register_members,
    starting_order,
)
from loyalty.storage.database import make_engine


def backend_cpu(pid: int) -> float | None:
    """CPU seconds used so far by a server backend on this machine; None when it cannot be read."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


class Meter:
    """Per-order wall time, CPU time of this process and of the server backend."""

    def __init__(self, backend_pid: int) -> None:
        self.pid = backend_pid

    def __enter__(self) -> Meter:
        self.wall, self.cpu, self.server = time.perf_counter(), time.process_time(), backend_cpu(self.pid)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        end = backend_cpu(self.pid)
        self.server = end - self.server if end is not None and self.server is not None else None

    def line(self, n: int) -> str:
        server = f", server CPU {self.server / n * 1000:.3f} ms" if self.server is not None else ""
        return f"{self.wall / n * 1000:.3f} ms/order ({n / self.wall:.0f}/s), client CPU {self.cpu / n * 1000:.3f} ms{server}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_confirm")
    parser.add_argument("--database", default=None)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--spend-share", type=float, default=0.2)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--wall", action="store_true", help="profile wall-clock time instead of CPU time")
    parser.add_argument("--pstats", default=None, help="also write the raw profile to this file")
    args = parser.parse_args()
    now = datetime.now(UTC)
    rng = random.Random(1)
    with fresh_database(args.database or bench_database_url()) as url:
        engine = make_engine(url)
        raw = psycopg.connect(libpq_url(url))
        try:
            version = publish_program(engine, now)
            ids = register_members(engine, list(range(1, args.members + 1)), now - timedelta(days=40))
            for member_id in ids:
                confirm_order(engine, starting_order(member_id, now))

            def orders(tag: str) -> list[dict[str, Any]]:
                return [cart_order(rng, f"{tag}-{i}", rng.choice(ids), args.spend_share) for i in range(args.orders)]

            for order in orders("warm-raw")[:200]:
                raw_confirm(raw, order, version)
            for order in orders("warm-uc")[:200]:
                confirm_order(engine, order)

            batch = orders("raw")
            with Meter(raw.info.backend_pid) as raw_meter:
                for order in batch:
                    raw_confirm(raw, order, version)

            statements: Counter[str] = Counter()
            checkouts = 0

            def count_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
                statements[" ".join(statement.split()[:3])] += 1

            def count_checkout(*_args: Any) -> None:
                nonlocal checkouts
                checkouts += 1

            pings, ping = 0, engine.dialect.do_ping

            def count_ping(dbapi_connection: Any) -> bool:
                nonlocal pings
                pings += 1
                return ping(dbapi_connection)

            with engine.connect() as conn:  # the pool's one connection, used by every order below
                pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            batch = orders("uc")
            with Meter(pid) as uc_meter:
                for order in batch:
                    confirm_order(engine, order)

            batch = orders("prof")
            profiler = cProfile.Profile() if args.wall else cProfile.Profile(time.process_time)
            clock = time.perf_counter if args.wall else time.process_time
            t0 = clock()
            profiler.enable()
            for order in batch:
                confirm_order(engine, order)
            profiler.disable()
            prof_ms = (clock() - t0) / len(batch) * 1000

            # Counted after the profile: a listener once added leaves the engine dispatching events per statement.
            event.listen(engine, "before_cursor_execute", count_statement)
            event.listen(engine.pool, "checkout", count_checkout)
            engine.dialect.do_ping = count_ping  # type: ignore[method-assign]
            for order in orders("count")[:500]:
                confirm_order(engine, order)
            del engine.dialect.do_ping
            event.remove(engine, "before_cursor_execute", count_statement)
            event.remove(engine.pool, "checkout", count_checkout)
        finally:
            raw.close()
            engine.dispose()

    print(f"single process, {args.orders} orders each, spend share {args.spend_share}")
    n = len(batch)
    print(f"  raw baseline:  {raw_meter.line(n)}")
    print(f"  use case:      {uc_meter.line(n)}")
    print(f"  ratio of wall times {raw_meter.wall / uc_meter.wall:.3f}", end="")
    if raw_meter.server is not None and uc_meter.server is not None:
        total_raw, total_uc = raw_meter.cpu + raw_meter.server, uc_meter.cpu + uc_meter.server
        print(f", of client + server CPU {total_raw / total_uc:.3f} (what bounds a CPU-bound box)", end="")
    print(f"\n  under cProfile {prof_ms:.3f} ms/order ({'wall' if args.wall else 'CPU'} time)")
    n = 500
    print(f"statements per use-case order (over {n}; plus {checkouts / n:.2f} pool checkouts, {pings / n:.2f} pings):")
    for statement, count in statements.most_common():
        print(f"  {count / n:5.2f}  {statement}")
    print(f"  {sum(statements.values()) / n:5.2f}  in all, plus BEGIN and COMMIT")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_callees(r"\(confirm_order\)")
    stats.print_callees(r"checkout.py:\d+\(confirm\)")
    print("\n=== the steps of one order (cumulative over the profiled orders) ===")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip() and "Ordered by" not in line))
    for sort in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(sort).print_stats(args.top)
        print(f"\n=== top {args.top} by {sort} ===")
        print(out.getvalue().split("\n", 6)[-1] if sort == "tottime" else out.getvalue())
    if args.pstats:
        profiler.dump_stats(args.pstats)


if __name__ == "__main__":
    main()
