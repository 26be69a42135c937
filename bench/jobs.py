"""The expiry and tier jobs on a large ledger, printed as one JSON line (`make bench-jobs`).

What it measures, on a fresh PostgreSQL database created for the run and dropped at the end:

* `expire_seconds` — `loyalty.ledger.jobs.expire` (the product: batches of accounts, each locked in ascending order
  and written off by a few set-based statements) over `accounts` accounts holding `lots` lots each, of which about
  four in five have expired by the run's instant (at different instants, under two program versions).
* `raw_seconds` — the same writes (entries, draws, lots, balances and counters, one `points.expired` event per
  account) by one hand-written SQL statement of data-modifying CTEs, after the same ordered lock, through the same
  driver in one transaction, on an identical copy of the data (`CREATE DATABASE ... TEMPLATE`).
  `expire_vs_raw_ratio` is expire_seconds / raw_seconds (1.0: the product costs what its writes cost).
* `tiers_seconds` — `loyalty.tiers.service.reevaluate` over the same accounts after the expiry, each with one
  confirmed order of a spend spread over the tier thresholds (0 to 200,000 RUB).

The data is written by `INSERT ... SELECT generate_series(...)` (every lot credited by an `adjust` entry, so the
ledger audit holds from the start), then ANALYZEd. `audit_violations` is the ledger audit after the product's run
(0: it wrote a consistent ledger), `raw_audit_violations` the same for the baseline's copy, and
`same_as_raw` whether both wrote the same entries, lots and balances. With `--per-account`, `per_account_seconds`
times the job as it was before it went set-based (account by account) on a second copy. Nothing here asserts on
time; the smoke test is tests/bench/test_bench_jobs_smoke.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy
from sqlalchemy import Engine, create_engine, make_url, select, text

from bench.confirm import bench_database_url, fresh_database, libpq_url, log, report
from loyalty.audit import service as audit
from loyalty.ledger import jobs
from loyalty.ledger import repository as accounts
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.batches import in_batches
from loyalty.storage.database import UnitOfWork, make_engine, normalise_url
from loyalty.tiers import service as tiers

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOT_POINTS = 100
PROGRAM: dict[str, Any] = {
    "name": "Benchmark jobs",
    "currency": "RUB",
    "timezone": "Europe/Moscow",
    "earning": {"pending_days": 0, "rules": [{"id": "base", "name": "Cashback", "percent": 5}]},
    "expiry": {"after_days": 365},
    "tiers": {
        "period": "rolling",
        "rolling_days": 365,
        "levels": [
            {"id": "silver", "name": "Silver", "from": "0"},
            {"id": "gold", "name": "Gold", "from": "15000"},
            {"id": "platinum", "name": "Platinum", "from": "100000"},
        ],
    },
}


@dataclass
class Config:
    url: str
    accounts: int = 100_000
    lots: int = 10
    keep_database: bool = False
    per_account: bool = False


# The data


def build(engine: Engine, accounts: int, lots: int, as_of: datetime, second: datetime) -> None:
    """`accounts` accounts of `lots` lots each, credited by adjustments; lot k of an account expires k - 0.8 * lots
    days after `as_of` (so most have expired, at many instants); one confirmed order per account for the tiers."""
    expired = max(1, (lots * 4) // 5)
    with engine.begin() as conn:
        p = {"n": accounts, "m": lots, "pts": LOT_POINTS, "as_of": as_of, "expired": expired, "second": second}
        conn.execute(
            text(
                "INSERT INTO accounts (account_id, balance, debt, seq) "
                "SELECT a, CAST(:m AS bigint) * :pts, 0, 2 * :m FROM generate_series(1, CAST(:n AS bigint)) a"
            ),
            p,
        )
        # Lot k is number 2k - 1, credited by entry 2k, as Account.credit numbers them.
        conn.execute(
            text(
                "INSERT INTO lots (account_id, lot_no, points, remaining, available_at, expires_at, entry_no, "
                "program_version, rule_id) "
                "SELECT a, 2 * k - 1, :pts, :pts, e - interval '365 days', e, 2 * k, "
                "CASE WHEN e - interval '365 days' >= :second THEN 2 ELSE 1 END, "
                "'adjustment' "
                "FROM generate_series(1, CAST(:n AS bigint)) a, generate_series(1, CAST(:m AS bigint)) k, "
                "LATERAL (SELECT CAST(:as_of AS timestamptz) + (k - :expired) * interval '1 day' "
                "- (a % 97) * interval '1 minute' AS e) x"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO ledger_entries (account_id, entry_no, kind, points, occurred_at, recorded_at, "
                "program_version, rule_id, lot_no, debt_delta, operator, reason, details) "
                "SELECT account_id, entry_no, 'adjust', points, available_at, available_at, program_version, "
                "'adjustment', lot_no, 0, 'bench', 'bench set-up', 'null'::json FROM lots"
            )
        )
        conn.execute(
            text(
                "INSERT INTO orders (order_key, account_id, status, occurred_at, program_version, request_hash, total, "
                "points_applied, points_earned, hold_points, earn_lots, request, created_at, updated_at) "
                "SELECT 'o-' || a, a, 'confirmed', CAST(:as_of AS timestamptz) - interval '30 days', 2, 'h', "
                "(a * 7919 % 2000) * 10000, 0, 0, 0, '[]'::json, '{}'::json, :as_of, :as_of "
                "FROM generate_series(1, CAST(:n AS bigint)) a"
            ),
            p,
        )
        conn.execute(
            text(
                "INSERT INTO order_lines (order_key, line_no, account_id, line_id, sku, category, quantity, amount, "
                "points_applied, points_earned, returned_quantity) "
                "SELECT order_key, 1, account_id, '1', 'sku', 'goods', 1, total, 0, 0, 0 FROM orders"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def publish(engine: Engine, as_of: datetime, lots: int) -> datetime:
    """Two versions: one in force long before every lot, one from halfway through the expiries; the second's
    start (the lots expired before it name the first version, those after it the second)."""
    second = as_of - timedelta(days=max(1, (lots * 4) // 5) // 2)
    first = as_of - timedelta(days=3000)
    with UnitOfWork(engine) as uow:
        programs.publish(uow, PROGRAM, first, first)
        programs.publish(uow, PROGRAM, second, second)
        uow.commit()
    return second


def copy_database(server_url: str, url: str) -> str:
    """An identical copy of the database of `url` (nothing may be connected to it), on the same server."""
    source = make_url(url).database
    name = f"loyalty_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# The raw baseline: what the product writes, by hand, in one statement after the lock

RAW_LOCK = """
SELECT account_id FROM accounts
WHERE account_id IN (SELECT account_id FROM lots WHERE expires_at <= %(as_of)s AND remaining > 0)
ORDER BY account_id FOR UPDATE
"""
RAW_EXPIRE = """
WITH due AS (
    SELECT l.account_id, l.lot_no, l.remaining, l.expires_at,
           a.seq + row_number() OVER (PARTITION BY l.account_id ORDER BY l.expires_at, l.lot_no) AS entry_no
    FROM lots l JOIN accounts a ON a.account_id = l.account_id
    WHERE l.expires_at <= %(as_of)s AND l.remaining > 0
), entries AS (
    INSERT INTO ledger_entries (account_id, entry_no, kind, points, occurred_at, recorded_at, program_version,
                                rule_id, lot_no, debt_delta, details)
    SELECT account_id, entry_no, 'expire', -remaining, expires_at, %(now)s,
           CASE WHEN expires_at >= %(second)s THEN 2 ELSE 1 END, 'expiry', lot_no, 0, 'null'::json
    FROM due
), draws AS (
    INSERT INTO lot_draws (account_id, entry_no, lot_no, points, returned)
    SELECT account_id, entry_no, lot_no, remaining, 0 FROM due
), burned AS (
    UPDATE lots SET remaining = 0 FROM due WHERE lots.account_id = due.account_id AND lots.lot_no = due.lot_no
), totals AS (
    SELECT account_id, sum(remaining) AS points, count(*) AS lots, max(expires_at) AS latest,
           max(entry_no) AS last_no
    FROM due GROUP BY account_id
), moved AS (
    UPDATE accounts a SET balance = a.balance - t.points, seq = t.last_no FROM totals t
    WHERE a.account_id = t.account_id
    RETURNING a.account_id, a.balance, t.points, t.lots, t.latest
)
INSERT INTO events (account_id, kind, occurred_at, recorded_at, data)
SELECT account_id, 'points.expired', latest, %(now)s,
       json_build_object('points', points, 'lots', lots, 'balance', balance)
FROM moved
"""


def raw_expire(url: str, as_of: datetime, now: datetime, second: datetime) -> float:
    with psycopg.connect(libpq_url(url)) as conn:
        began = time.perf_counter()
        params = {"as_of": as_of, "now": now, "second": second}
        conn.execute(RAW_LOCK, params).fetchall()
        conn.execute(RAW_EXPIRE, params)
        conn.commit()
        return time.perf_counter() - began


# Checks


def audit_violations(engine: Engine) -> int:
    with UnitOfWork(engine, read_only=True) as uow:
        violations, _ = audit.run(uow)
    for violation in violations[:5]:
        log(f"audit: {violation}")
    return len(violations)


LEDGER_DIGEST = """
SELECT (SELECT count(*) FROM ledger_entries), (SELECT sum(points * entry_no) FROM ledger_entries),
       (SELECT sum(coalesce(program_version, 0) * entry_no) FROM ledger_entries),
       (SELECT sum(remaining * lot_no) FROM lots), (SELECT sum(points * entry_no) FROM lot_draws),
       (SELECT sum(balance * account_id + seq) FROM accounts),
       (SELECT count(*) FROM events WHERE kind = 'points.expired')
"""


def digest(engine: Engine) -> tuple[Any, ...]:
    """Figures that differ if the two runs wrote different entries, draws, lots, balances or events."""
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(LEDGER_DIGEST).one())


# The account-by-account job, as it was before it went set-based, for comparison (--per-account)


def per_account_expire(engine: Engine, as_of: datetime, now: datetime) -> dict[str, int]:
    """The expiry job as it ran until it went set-based: batches of 500 accounts, each account locked, its live lots
    loaded, `Account.expire` applied and its changes flushed (~6 statements per account)."""
    counts = {"accounts": 0, "points": 0}

    def burn(uow: UnitOfWork, batch: Sequence[int]) -> None:
        version_at = programs.versions_in_force(uow)
        for account_id in batch:
            account = accounts.load_lots(uow, accounts.lock(uow, account_id, now))
            counts["points"] += account.expire(as_of, version_at)
            accounts.flush(uow, account)
        counts["accounts"] += len(batch)

    lo = t.lots.c
    due = select(lo.account_id).where(lo.expires_at <= as_of, lo.remaining > 0).group_by(lo.account_id)
    in_batches(engine, due, burn, size=500)
    return counts


# The whole run


def run(config: Config) -> dict[str, Any]:
    began = time.perf_counter()
    load_before = os.getloadavg()
    now = datetime.now(UTC).replace(microsecond=0)
    result: dict[str, Any] = {}
    with fresh_database(config.url, keep=config.keep_database) as url:
        engine = make_engine(url, timeouts=False)
        second = publish(engine, now, config.lots)
        t0 = time.perf_counter()
        build(engine, config.accounts, config.lots, now, second)
        log(f"built {config.accounts} accounts x {config.lots} lots in {time.perf_counter() - t0:.1f} s")
        engine.dispose()  # a template must have no connections
        copies = [copy_database(config.url, url) for _ in range(2 if config.per_account else 1)]
        try:
            result.update(measure(url, copies, now, second))
        finally:
            for copy in copies:
                drop_database(config.url, make_url(copy).database or "")
    result.update(
        {
            "accounts": config.accounts,
            "lots_per_account": config.lots,
            "lots": config.accounts * config.lots,
            "batch": jobs.BATCH,
            "cpu_count": os.cpu_count(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlalchemy": sqlalchemy.__version__,
            "psycopg": psycopg.__version__,
            "run_s": round(time.perf_counter() - began, 1),
        }
    )
    return result


def measure(url: str, copies: list[str], now: datetime, second: datetime) -> dict[str, Any]:
    """The raw baseline on the first copy, the product on the original, the old job on the second copy if any."""
    engine, raw = make_engine(url, timeouts=False), make_engine(copies[0], timeouts=False)
    result: dict[str, Any] = {}
    try:
        assert digest(raw) == digest(engine)  # also reads every table of both once, so that neither starts cold
        result["raw_seconds"] = round(raw_expire(copies[0], now, now, second), 3)
        log(f"raw: {result['raw_seconds']} s")
        t0 = time.perf_counter()
        expired = jobs.expire(engine, now, now)
        result["expire_seconds"] = round(time.perf_counter() - t0, 3)
        log(f"expire: {result['expire_seconds']} s, {expired}")
        result["expire_vs_raw_ratio"] = round(result["expire_seconds"] / result["raw_seconds"], 3)
        result["expired_accounts"], result["expired_points"] = expired["accounts"], expired["points"]
        result["same_as_raw"] = digest(engine) == digest(raw)
        t0 = time.perf_counter()
        moved = tiers.reevaluate(engine, now, now)
        result["tiers_seconds"] = round(time.perf_counter() - t0, 3)
        result["tiers_upgraded"] = moved["upgraded"]
        log(f"tiers: {result['tiers_seconds']} s, {moved}")
        result["audit_violations"] = audit_violations(engine)
        result["raw_audit_violations"] = audit_violations(raw)
        with engine.connect() as conn:
            result["postgresql"] = conn.execute(text("SHOW server_version")).scalar()
    finally:
        engine.dispose()
        raw.dispose()
    if len(copies) > 1:
        old = make_engine(copies[1], timeouts=False)
        try:
            digest(old)
            t0 = time.perf_counter()
            per_account_expire(old, now, now)
            result["per_account_seconds"] = round(time.perf_counter() - t0, 3)
            log(f"per account: {result['per_account_seconds']} s")
            check = make_engine(copies[0])
            result["per_account_same_as_raw"] = digest(old) == digest(check)
            check.dispose()
        finally:
            old.dispose()
    return result


def parse_args(argv: Sequence[str] | None = None) -> Config:
    defaults = Config(url="")
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--database",
        default=None,
        help="PostgreSQL server URL (default: $LOYALTY_BENCH_DATABASE_URL,"
        " else $LOYALTY_TEST_DATABASE_URL, else " + DEFAULT_URL + ")",
    )
    parser.add_argument("--accounts", type=int, default=defaults.accounts)
    parser.add_argument("--lots", type=int, default=defaults.lots, help="lots per account")
    parser.add_argument("--batch", type=int, default=None, help="accounts per batch of the jobs")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--per-account", action="store_true", help="also time the account-by-account job it replaced, on a copy"
    )
    args = parser.parse_args(argv)
    if args.batch:
        jobs.BATCH = tiers.BATCH = args.batch
    return Config(
        url=args.database or bench_database_url(),
        accounts=args.accounts,
        lots=args.lots,
        keep_database=args.keep_database,
        per_account=args.per_account,
    )


def main(argv: Sequence[str] | None = None) -> None:
    report(parse_args(argv), run)


if __name__ == "__main__":
    main()
