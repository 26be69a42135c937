"""The confirm path in one process on PostgreSQL: per-order time of the use case and of the raw baseline without a
profiler, the statements the use case sends per order, then a cProfile of the use case.

    .venv/bin/python -m bench.profile_confirm [--orders 2000] [--top 30] [--pstats out.prof]

Uses the same database URL, program, members and carts as bench.confirm, on a fresh database it drops at the end.
The report goes to stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import io
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_confirm")
    parser.add_argument("--database", default=None)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--spend-share", type=float, default=0.2)
    parser.add_argument("--top", type=int, default=30)
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
            t0 = time.perf_counter()
            for order in batch:
                raw_confirm(raw, order, version)
            raw_ms = (time.perf_counter() - t0) / len(batch) * 1000

            statements: Counter[str] = Counter()
            checkouts = 0

            def count_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
                statements[" ".join(statement.split()[:3])] += 1

            def count_checkout(*_args: Any) -> None:
                nonlocal checkouts
                checkouts += 1

            batch = orders("uc")
            t0 = time.perf_counter()
            for order in batch:
                confirm_order(engine, order)
            uc_ms = (time.perf_counter() - t0) / len(batch) * 1000

            event.listen(engine, "before_cursor_execute", count_statement)
            event.listen(engine.pool, "checkout", count_checkout)
            for order in orders("count")[:500]:
                confirm_order(engine, order)
            event.remove(engine, "before_cursor_execute", count_statement)
            event.remove(engine.pool, "checkout", count_checkout)

            batch = orders("prof")
            profiler = cProfile.Profile()
            t0 = time.perf_counter()
            profiler.enable()
            for order in batch:
                confirm_order(engine, order)
            profiler.disable()
            prof_ms = (time.perf_counter() - t0) / len(batch) * 1000
        finally:
            raw.close()
            engine.dispose()

    print(f"single process, {args.orders} orders each, spend share {args.spend_share}")
    print(f"  raw baseline:  {raw_ms:.3f} ms/order ({1000 / raw_ms:.0f}/s)")
    print(f"  use case:      {uc_ms:.3f} ms/order ({1000 / uc_ms:.0f}/s), ratio {raw_ms / uc_ms:.3f}")
    print(f"  under cProfile {prof_ms:.3f} ms/order")
    n = 500
    print(f"statements per use-case order (over {n}; plus {checkouts / n:.2f} pool checkouts, each pre-pinged):")
    for statement, count in statements.most_common():
        print(f"  {count / n:5.2f}  {statement}")
    print(f"  {sum(statements.values()) / n:5.2f}  in all, plus BEGIN and COMMIT")
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
