"""Confirm throughput and calculate latency, printed as one JSON line (`make bench`).

What it measures, on a fresh PostgreSQL database created for the run and dropped at the end:

* `confirm_per_s` — orders per second through the real use case: parse_order, then UnitOfWork +
  checkout.confirm + commit, one transaction per order, the member named by member_id, a 3-line cart earning 5%,
  a share of the orders also paying with points. `workers` processes (spawned, so the GIL is not shared) each
  own an engine and confirm orders of members drawn at random from `members` registered ones.
* `raw_confirm_per_s` — the same processes, server and driver (psycopg 3, plain SQL strings, one connection per
  process), one transaction per order doing the writes the use case does on the real tables: lock the account
  row (SELECT ... FOR UPDATE), read its live lots when the order spends, insert the order, its lines, its ledger
  entries and its new lot, draw the spent lots (lot_draws + UPDATE lots), update the balance, commit. It skips
  what only the use case's generality needs: resolving the member, finding the program version, the
  exactly-once lookup of the order (the order's primary key guards it), the holds of reservations.
* `calculate_p50_ms` / `calculate_p99_ms` — one process, UnitOfWork(read_only=True) + checkout.calculate of a
  20-line cart for a member with points (the request is parsed once, outside the timing; `parse_order_*`
  reports that part), on the same PostgreSQL database with the workers stopped, and on a SQLite file.
* `quote_p50_ms` / `quote_p99_ms` — the pure loyalty.checkout.quote.quote on the same cart.

Members are registered through members.register and get their starting points from a confirmed order of the
use case (which also warms the workers up); the database is then ANALYZEd, as one in service would be, and
VACUUMed before the latency measurements. The modes alternate over `rounds` windows (raw first in odd rounds,
confirm first in even ones), so neither profits from a table growing or a neighbour's load changing during the
run; the load average before and after is reported. `audit_violations` is the ledger audit over everything both
modes wrote. Nothing here asserts on time; tests/bench holds the smoke test.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import platform
import queue
import random
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from psycopg.types.json import Json
from sqlalchemy import Engine, create_engine, make_url, text

from loyalty.audit import service as audit
from loyalty.checkout import service as checkout
from loyalty.checkout.quote import quote
from loyalty.checkout.requests import parse_order
from loyalty.members import service as members
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine, normalise_url
from loyalty.storage.migrate import upgrade

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# 5% cashback, points spendable from a 1000 RUB check up to 99% of it, pending 14 days, expiring after a year.
EARN_PERCENT = 5
PENDING_DAYS = 14
EXPIRY_DAYS = 365
MAX_SHARE_PERCENT = 99
MIN_CHECK_MINOR = 1000_00
PROGRAM: dict[str, Any] = {
    "name": "Benchmark cashback",
    "currency": "RUB",
    "timezone": "Europe/Moscow",
    "earning": {"pending_days": PENDING_DAYS, "rules": [{"id": "base", "name": "Cashback", "percent": EARN_PERCENT}]},
    "redemption": {"min_check": "1000", "max_share_percent": MAX_SHARE_PERCENT},
    "expiry": {"after_days": EXPIRY_DAYS},
}
STARTING_ORDER_PRICE = "100000.00"  # the initial confirmed order: 5,000 points, spendable by the time we run
CATEGORIES = ("grocery", "dairy", "bakery", "household", "drinks")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Config:
    url: str
    workers: int = 8
    members: int = 2000
    duration: float = 10.0  # measured seconds per mode, split over the rounds
    orders: int | None = None  # a fixed number of orders per mode instead of a duration
    rounds: int = 2
    warmup_orders: int = 25  # per worker and mode, not measured
    spend_share: float = 0.2  # the share of orders that also pay with points
    calc_iterations: int = 3000
    calc_warmup: int = 300
    quote_iterations: int = 5000
    sqlite: bool = True
    seed: int = 20261101
    keep_database: bool = False


def bench_database_url() -> str:
    return os.environ.get("LOYALTY_BENCH_DATABASE_URL") or os.environ.get("LOYALTY_TEST_DATABASE_URL") or DEFAULT_URL


# Databases


@contextlib.contextmanager
def fresh_database(server_url: str, *, keep: bool = False) -> Iterator[str]:
    """A new, migrated database on the server of `server_url` (whose own database serves as the admin one)."""
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    name = f"loyalty_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(normalise_url(server_url)).set(database=name).render_as_string(hide_password=False)
        log(f"created database {name}")
        try:
            upgrade(url)
            yield url
        finally:
            if keep:
                log(f"kept database {name}")
            else:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log(f"dropped database {name}")
    finally:
        admin.dispose()


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq one for psycopg.connect."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def publish_program(engine: Engine, now: datetime) -> int:
    with UnitOfWork(engine) as uow:
        version = programs.publish(uow, PROGRAM, now - timedelta(days=60), now)
        uow.commit()
    return version.number


def settle(engine: Engine, *, vacuum: bool) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)" if vacuum else "ANALYZE")


# Orders


def cart_order(rng: random.Random, key: str, member_id: int, spend_share: float) -> dict[str, Any]:
    """A typical 3-line cart of at least 1000 RUB; a `spend_share` of them pay 10..200 points."""

    def price(low: int, high: int) -> str:
        return f"{rng.randrange(low, high)}.{rng.randrange(100):02d}"

    order: dict[str, Any] = {
        "order_id": key,
        "member": {"member_id": member_id},
        "channel": "pos",
        "store": f"store-{rng.randrange(40)}",
        "lines": [
            {"sku": f"sku-{rng.randrange(5000)}", "category": "grocery", "quantity": 1, "price": price(1000, 5000)},
            {
                "sku": f"sku-{rng.randrange(5000)}",
                "category": "dairy",
                "quantity": rng.randint(1, 3),
                "price": price(50, 900),
            },
            {
                "sku": f"sku-{rng.randrange(5000)}",
                "category": "bakery",
                "quantity": rng.randint(1, 5),
                "price": price(10, 300),
            },
        ],
    }
    if rng.random() < spend_share:
        order["points"] = rng.randint(10, 200)
    return order


def starting_order(member_id: int, now: datetime) -> dict[str, Any]:
    """The confirmed order that gives a member its starting points, old enough for them to be spendable."""
    return {
        "order_id": f"start-{member_id}",
        "member": {"member_id": member_id},
        "occurred_at": (now - timedelta(days=30)).isoformat(),
        "lines": [{"sku": "welcome-basket", "category": "household", "quantity": 1, "price": STARTING_ORDER_PRICE}],
    }


def big_cart_order(member_id: int, lines: int = 20, points: int = 100) -> dict[str, Any]:
    """The cart of the latency measurements: `lines` lines, paying `points` points."""
    return {
        "order_id": "calc-20",
        "member": {"member_id": member_id},
        "points": points,
        "channel": "web",
        "store": "online",
        "lines": [
            {
                "line_id": str(i + 1),
                "sku": f"sku-{1000 + i}",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "quantity": 1 + i % 3,
                "price": f"{50 + (i * 137) % 1900}.{(i * 7) % 100:02d}",
            }
            for i in range(lines)
        ],
    }


def confirm_order(engine: Engine, order: dict[str, Any]) -> dict[str, Any]:
    """One order through the real use case, in its own transaction."""
    now = datetime.now(UTC)
    request = parse_order(order, now)
    with UnitOfWork(engine) as uow:
        result = checkout.confirm(uow, request, now)
        uow.commit()
    return result


def register_members(engine: Engine, numbers: Sequence[int], registered_at: datetime, batch: int = 50) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(numbers), batch):
        with UnitOfWork(engine) as uow:
            for n in numbers[start : start + batch]:
                member = members.parse_member({"card": f"BENCH-{n:07d}", "name": f"Bench member {n}"})
                ids.append(members.register(uow, member, registered_at))
            uow.commit()
    return ids


# The raw baseline: the same writes, by hand, through psycopg 3.

_LOCK = "SELECT balance, debt, seq FROM accounts WHERE account_id = %s FOR UPDATE"
_LIVE_LOTS = "SELECT lot_no, remaining, available_at, expires_at FROM lots WHERE account_id = %s AND remaining > 0"
_INSERT_ORDER = (
    "INSERT INTO orders (order_key, account_id, status, occurred_at, program_version, request_hash, total,"
    " points_applied, points_earned, hold_points, hold_expires_at, earn_lots, spend_entry_no, channel, store,"
    " request, result, created_at, updated_at)"
    " VALUES (%s, %s, 'confirmed', %s, %s, %s, %s, %s, %s, 0, NULL, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_LINES = (
    "INSERT INTO order_lines (order_key, line_no, account_id, line_id, sku, category, quantity, amount,"
    " points_applied, points_earned, returned_quantity) VALUES "
)
_LINE_VALUES = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)"
_INSERT_ENTRIES = (
    "INSERT INTO ledger_entries (account_id, entry_no, kind, points, occurred_at, recorded_at, program_version,"
    " rule_id, order_key, lot_no, debt_delta) VALUES "
)
_ENTRY_VALUES = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)"
_INSERT_LOT = (
    "INSERT INTO lots (account_id, lot_no, points, remaining, available_at, expires_at, entry_no, program_version,"
    " rule_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_DRAWS = "INSERT INTO lot_draws (account_id, entry_no, lot_no, points, returned) VALUES "
_DRAW_VALUES = "(%s, %s, %s, %s, 0)"
_UPDATE_LOT = "UPDATE lots SET remaining = %s WHERE account_id = %s AND lot_no = %s"
_UPDATE_ACCOUNT = "UPDATE accounts SET balance = %s, debt = %s, seq = %s WHERE account_id = %s"


def _values(head: str, row: str, n: int) -> str:
    return head + ", ".join([row] * n)


def _split(points: int, weights: list[int]) -> list[int]:
    """`points` over `weights` by largest remainder (the use case's allocation, simplified)."""
    total = sum(weights)
    if not points or not total:
        return [0] * len(weights)
    shares = [points * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: -(points * weights[i] % total))
    for i in order[: points - sum(shares)]:
        shares[i] += 1
    return shares


def _minor(price: object) -> int:
    return int(Decimal(str(price)) * 100)


def raw_confirm(conn: psycopg.Connection[Any], order: dict[str, Any], program_version: int) -> None:
    """One order by hand: lock, (read lots to spend), insert order, lines, entries, lot, draws, update balance."""
    now = datetime.now(UTC)
    occurred = now
    key = order["order_id"]
    account_id = order["member"]["member_id"]
    lines = order["lines"]
    amounts = [_minor(x["price"]) * x["quantity"] for x in lines]
    total = sum(amounts)
    requested = order.get("points", 0)
    request_json = {
        "member": order["member"],
        "occurred_at": occurred.isoformat(),
        "points": requested,
        "channel": order.get("channel"),
        "store": order.get("store"),
        "discount": "0",
        "lines": [
            {"line_id": str(i + 1), "sku": x["sku"], "category": x.get("category"), "quantity": x["quantity"]}
            | {"price": str(x["price"]), "discount": "0"}
            for i, x in enumerate(lines)
        ],
    }
    digest = hashlib.sha256(json.dumps([key, request_json], separators=(",", ":")).encode()).hexdigest()
    try:
        with conn.cursor() as cur:
            cur.execute(_LOCK, (account_id,))
            row = cur.fetchone()
            assert row is not None, f"no account {account_id}"
            balance, debt, seq = row
            max_points = min(total * MAX_SHARE_PERCENT // 100 // 100, total // 100) if total >= MIN_CHECK_MINOR else 0
            applied, draws = 0, []
            if requested:
                cur.execute(_LIVE_LOTS, (account_id,))
                usable = sorted(
                    (r for r in cur.fetchall() if r[2] <= occurred),
                    key=lambda r: (r[3] is None, r[3] or r[2], r[0]),
                )
                applied = min(requested, max_points, sum(r[1] for r in usable))
                left = applied
                for lot_no, remaining, _available_at, _expires_at in usable:
                    if not left:
                        break
                    take = min(left, remaining)
                    draws.append((lot_no, take, remaining - take))
                    left -= take
            spent = _split(applied, amounts)
            pay = [a - s * 100 for a, s in zip(amounts, spent, strict=True)]
            earned_total = sum(pay) * EARN_PERCENT // 100 // 100
            earned = _split(earned_total, pay)
            entries: list[Any] = []
            spend_entry = None
            if applied:
                seq += 1
                spend_entry = seq
                entries += [account_id, seq, "spend", -applied, occurred, now, program_version, "redemption", key, None]
            lot_no = None
            if earned_total:
                lot_no, seq = seq + 1, seq + 2
                entries += [account_id, seq, "earn", earned_total, occurred, now, program_version, "base", key, lot_no]
            available_at = occurred + timedelta(days=PENDING_DAYS)
            expires_at = occurred + timedelta(days=EXPIRY_DAYS)
            result = {
                "order_id": key,
                "status": "confirmed",
                "member_id": account_id,
                "occurred_at": occurred.isoformat(),
                "program_version": program_version,
                "currency": "RUB",
                "total": f"{Decimal(total) / 100:.2f}",
                "max_points": max_points,
                "points_applied": applied,
                "points_value": f"{applied}.00",
                "amount_to_pay": f"{Decimal(total - applied * 100) / 100:.2f}",
                "points_to_earn": earned_total,
                "points_available_at": available_at.isoformat(),
                "points_expire_at": expires_at.isoformat(),
                "lines": [
                    {
                        "line_id": str(i + 1),
                        "sku": x["sku"],
                        "category": x.get("category"),
                        "quantity": x["quantity"],
                        "amount": f"{Decimal(amounts[i]) / 100:.2f}",
                        "points_applied": spent[i],
                        "amount_to_pay": f"{Decimal(pay[i]) / 100:.2f}",
                        "points_to_earn": earned[i],
                        "earned_by": [{"rule": "base", "points": earned[i]}] if earned[i] else [],
                    }
                    for i, x in enumerate(lines)
                ],
                "explanation": [
                    {
                        "source": "redemption.max_share_percent",
                        "outcome": "limited",
                        "message": f"points can pay at most {MAX_SHARE_PERCENT}% of the order",
                        "points": max_points,
                    },
                    {
                        "source": "base",
                        "outcome": "applied",
                        "message": f"Cashback: {EARN_PERCENT}% of the eligible amount",
                        "points": earned_total,
                    },
                ],
            }
            cur.execute(
                _INSERT_ORDER,
                (
                    key,
                    account_id,
                    occurred,
                    program_version,
                    digest,
                    total,
                    applied,
                    earned_total,
                    Json([lot_no] if lot_no is not None else []),
                    spend_entry,
                    order.get("channel"),
                    order.get("store"),
                    Json(request_json),
                    Json(result),
                    now,
                    now,
                ),
            )
            line_params: list[Any] = []
            for i, x in enumerate(lines):
                line_params += [key, i, account_id, str(i + 1), x["sku"], x.get("category"), x["quantity"]]
                line_params += [amounts[i], spent[i], earned[i]]
            cur.execute(_values(_INSERT_LINES, _LINE_VALUES, len(lines)), line_params)
            if entries:
                cur.execute(_values(_INSERT_ENTRIES, _ENTRY_VALUES, len(entries) // 10), entries)
            if lot_no is not None:
                cur.execute(
                    _INSERT_LOT,
                    (
                        account_id,
                        lot_no,
                        earned_total,
                        earned_total,
                        available_at,
                        expires_at,
                        seq,
                        program_version,
                        "base",
                    ),
                )
            if draws:
                params = [v for lot, take, _ in draws for v in (account_id, spend_entry, lot, take)]
                cur.execute(_values(_INSERT_DRAWS, _DRAW_VALUES, len(draws)), params)
                for lot, _take, remaining in draws:
                    cur.execute(_UPDATE_LOT, (remaining, account_id, lot))
            cur.execute(_UPDATE_ACCOUNT, (balance - applied + earned_total, debt, seq, account_id))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


# Worker processes


class _Worker:
    """The state of one worker process: its own engine (the use case) and its own connection (the raw path)."""

    def __init__(self, index: int, url: str, seed: int) -> None:
        self.index = index
        self.url = url
        self.rng = random.Random(seed * 1000 + index)
        self._engine: Engine | None = None
        self._raw: psycopg.Connection[Any] | None = None
        self.member_ids: list[int] = []
        self.program_version = 1

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    @property
    def raw(self) -> psycopg.Connection[Any]:
        if self._raw is None:
            self._raw = psycopg.connect(libpq_url(self.url))
        return self._raw

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self._raw is not None:
            self._raw.close()

    # Commands

    def ready(self) -> int:
        return os.getpid()

    def register(self, numbers: list[int], registered_at: datetime) -> list[int]:
        return register_members(self.engine, numbers, registered_at)

    def seed(self, member_ids: list[int], now: datetime) -> int:
        for member_id in member_ids:
            confirm_order(self.engine, starting_order(member_id, now))
        return len(member_ids)

    def configure(self, member_ids: list[int], program_version: int) -> None:
        self.member_ids = member_ids
        self.program_version = program_version
        _ = self.raw  # connect now, not inside the first measured window

    def run(
        self, mode: str, tag: str, start_at: float, spend_share: float, orders: int | None, duration: float | None
    ) -> dict[str, Any]:
        """Confirm orders from `start_at` (time.time()) on, `orders` of them or for `duration` seconds."""
        if mode == "confirm":
            engine = self.engine

            def one(order: dict[str, Any]) -> None:
                confirm_order(engine, order)

        else:
            conn, version = self.raw, self.program_version

            def one(order: dict[str, Any]) -> None:
                raw_confirm(conn, order, version)

        prefix = f"{mode}-{tag}-{self.index}-"
        latencies: list[float] = []
        delay = start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        started = time.perf_counter()
        deadline = started + duration if duration is not None else math.inf
        i = 0
        while (orders is None or i < orders) and time.perf_counter() < deadline:
            order = cart_order(self.rng, f"{prefix}{i}", self.rng.choice(self.member_ids), spend_share)
            t0 = time.perf_counter()
            one(order)
            latencies.append(time.perf_counter() - t0)
            i += 1
        return {"orders": i, "elapsed": time.perf_counter() - started, "latencies": latencies}


def _worker_main(index: int, url: str, seed: int, commands: Any, results: Any) -> None:
    worker = _Worker(index, url, seed)
    try:
        while True:
            command = commands.get()
            if command is None:
                break
            name, kwargs = command
            try:
                results.put((index, None, getattr(worker, name)(**kwargs)))
            except BaseException:
                results.put((index, traceback.format_exc(), None))
    finally:
        worker.close()


class Workers:
    """`n` spawned worker processes, each answering commands in turn."""

    def __init__(self, n: int, url: str, seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.commands = [context.Queue() for _ in range(n)]
        self.results = context.Queue()
        self.processes = [
            context.Process(
                target=_worker_main, args=(i, url, seed, self.commands[i], self.results), name=f"bench-worker-{i}"
            )
            for i in range(n)
        ]
        for process in self.processes:
            process.daemon = True
            process.start()

    def __len__(self) -> int:
        return len(self.processes)

    def call(self, name: str, kwargs: Sequence[dict[str, Any]]) -> list[Any]:
        """Send command `name` with one kwargs per worker; their answers, in worker order."""
        for commands, args in zip(self.commands, kwargs, strict=True):
            commands.put((name, args))
        answers: dict[int, Any] = {}
        failures: list[str] = []
        while len(answers) + len(failures) < len(self.processes):
            try:
                index, error, value = self.results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.name for p in self.processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"worker processes died during {name}: {dead}") from None
                continue
            if error is not None:
                failures.append(f"worker {index}:\n{error}")
            else:
                answers[index] = value
        if failures:
            raise RuntimeError(f"{name} failed in {len(failures)} worker(s):\n" + "\n".join(failures))
        return [answers[i] for i in range(len(self.processes))]

    def close(self) -> None:
        for commands in self.commands:
            with contextlib.suppress(Exception):
                commands.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


def _shares(items: Sequence[Any], n: int) -> list[list[Any]]:
    return [list(items[i::n]) for i in range(n)]


def _counts(total: int, n: int) -> list[int]:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


# Statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_ms(prefix: str, seconds: Sequence[float]) -> dict[str, float]:
    return {
        f"{prefix}_p50_ms": round(percentile(seconds, 50) * 1000, 4),
        f"{prefix}_p99_ms": round(percentile(seconds, 99) * 1000, 4),
    }


def timed(fn: Callable[[], object], iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


# Throughput


def measure_throughput(workers: Workers, config: Config) -> dict[str, Any]:
    """Both modes over the rounds, alternating which goes first; orders/s, per-order latency under load."""
    n = len(workers)
    totals = {"raw": {"orders": 0, "elapsed": 0.0}, "confirm": {"orders": 0, "elapsed": 0.0}}
    latencies: dict[str, list[float]] = {"raw": [], "confirm": []}
    per_round: dict[str, list[float]] = {"raw": [], "confirm": []}

    def window(mode: str, tag: str, orders: int | None, duration: float | None) -> dict[str, Any]:
        counts = _counts(orders, n) if orders is not None else [None] * n
        start_at = time.time() + 0.2
        answers = workers.call(
            "run",
            [
                {
                    "mode": mode,
                    "tag": tag,
                    "start_at": start_at,
                    "spend_share": config.spend_share,
                    "orders": counts[i],
                    "duration": duration,
                }
                for i in range(n)
            ],
        )
        return {
            "orders": sum(a["orders"] for a in answers),
            "elapsed": max(a["elapsed"] for a in answers),
            "latencies": [x for a in answers for x in a["latencies"]],
        }

    if config.warmup_orders:
        for mode in ("raw", "confirm"):
            window(mode, "warmup", config.warmup_orders * n, None)
        log(f"warmed up both modes ({config.warmup_orders} orders per worker each)")
    rounds = max(1, config.rounds)
    for r in range(rounds):
        for mode in ("raw", "confirm") if r % 2 == 0 else ("confirm", "raw"):
            if config.orders is not None:
                orders: int | None = _counts(config.orders, rounds)[r]
                duration = None
            else:
                orders, duration = None, config.duration / rounds
            got = window(mode, f"r{r}", orders, duration)
            totals[mode]["orders"] += got["orders"]
            totals[mode]["elapsed"] += got["elapsed"]
            latencies[mode] += got["latencies"]
            rate = got["orders"] / got["elapsed"] if got["elapsed"] else 0.0
            per_round[mode].append(round(rate, 1))
            log(f"round {r + 1}/{rounds} {mode}: {got['orders']} orders in {got['elapsed']:.2f} s = {rate:.0f}/s")
    confirm_rate = totals["confirm"]["orders"] / totals["confirm"]["elapsed"]
    raw_rate = totals["raw"]["orders"] / totals["raw"]["elapsed"]
    return {
        "confirm_per_s": round(confirm_rate, 1),
        "raw_confirm_per_s": round(raw_rate, 1),
        "confirm_vs_raw_ratio": round(confirm_rate / raw_rate, 4),
        **latency_ms("confirm_latency", latencies["confirm"]),
        **latency_ms("raw_confirm_latency", latencies["raw"]),
        "confirm_orders": totals["confirm"]["orders"],
        "raw_orders": totals["raw"]["orders"],
        "confirm_elapsed_s": round(totals["confirm"]["elapsed"], 3),
        "raw_elapsed_s": round(totals["raw"]["elapsed"], 3),
        "confirm_per_s_by_round": per_round["confirm"],
        "raw_confirm_per_s_by_round": per_round["raw"],
    }


# Latency of calculate and quote


def prepare_latency_member(engine: Engine, now: datetime) -> int:
    """A member with points in several lots: a starting order, then a few orders earning and spending."""
    member_id = register_members(engine, [9_000_000], now - timedelta(days=40))[0]
    confirm_order(engine, starting_order(member_id, now))
    rng = random.Random(7)
    for i in range(6):
        order = cart_order(rng, f"history-{member_id}-{i}", member_id, 0.0)
        order["occurred_at"] = (now - timedelta(days=15, minutes=60 - i)).isoformat()
        order["points"] = 50 * (i % 2)
        confirm_order(engine, order)
    return member_id


def measure_calculate(engine: Engine, member_id: int, iterations: int, warmup: int, prefix: str) -> dict[str, float]:
    now = datetime.now(UTC)
    request = parse_order(big_cart_order(member_id), now)

    def once() -> None:
        with UnitOfWork(engine, read_only=True) as uow:
            checkout.calculate(uow, request, now)

    return latency_ms(prefix, timed(once, iterations, warmup))


def measure_quote_and_parse(engine: Engine, member_id: int, iterations: int) -> dict[str, float]:
    now = datetime.now(UTC)
    order = big_cart_order(member_id)
    request = parse_order(order, now)
    with UnitOfWork(engine, read_only=True) as uow:
        version = programs.version_at(uow, request.occurred_at)
        available = checkout.calculate(uow, request, now)["balance_available"]
    program = version.program
    cart = request.cart(program)

    def quote_once() -> None:
        quote(program, cart, available=available, requested=request.points, is_member=True)

    def parse_once() -> None:
        parse_order(order, now)

    warmup = max(10, iterations // 10)
    return {
        **latency_ms("quote", timed(quote_once, iterations, warmup)),
        **latency_ms("parse_order", timed(parse_once, iterations, warmup)),
    }


def sqlite_calculate(config: Config) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            now = datetime.now(UTC)
            publish_program(engine, now)
            member_id = prepare_latency_member(engine, now)
            return measure_calculate(engine, member_id, config.calc_iterations, config.calc_warmup, "calculate_sqlite")
        finally:
            engine.dispose()


# The whole run


def run(config: Config) -> dict[str, Any]:
    """Set up, measure, tear down; the result as a JSON-ready dict."""
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    now = datetime.now(UTC)
    result: dict[str, Any] = {}
    with fresh_database(config.url, keep=config.keep_database) as url:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                server_version = conn.execute(text("SHOW server_version")).scalar()
            program_version = publish_program(engine, now)
            latency_member = prepare_latency_member(engine, now)
            log(f"starting {config.workers} worker processes")
            workers = Workers(config.workers, url, config.seed)
            try:
                t0 = time.perf_counter()
                workers.call("ready", [{}] * len(workers))
                log(f"workers ready in {time.perf_counter() - t0:.1f} s")
                t0 = time.perf_counter()
                numbers = list(range(1, config.members + 1))
                ids = workers.call(
                    "register",
                    [{"numbers": s, "registered_at": now - timedelta(days=40)} for s in _shares(numbers, len(workers))],
                )
                member_ids = sorted(x for part in ids for x in part)
                log(f"registered {len(member_ids)} members in {time.perf_counter() - t0:.1f} s")
                t0 = time.perf_counter()
                workers.call("seed", [{"member_ids": s, "now": now} for s in _shares(member_ids, len(workers))])
                log(f"confirmed their starting orders in {time.perf_counter() - t0:.1f} s")
                settle(engine, vacuum=False)  # planner statistics, as a database in service has them
                workers.call(
                    "configure", [{"member_ids": member_ids, "program_version": program_version}] * len(workers)
                )
                result.update(measure_throughput(workers, config))
            finally:
                workers.close()
            settle(engine, vacuum=True)  # the workers' garbage collected now, not during the measurement
            log("measuring calculate on PostgreSQL")
            result.update(
                measure_calculate(engine, latency_member, config.calc_iterations, config.calc_warmup, "calculate")
            )
            result.update(measure_quote_and_parse(engine, latency_member, config.quote_iterations))
            with UnitOfWork(engine, read_only=True) as uow:
                violations, checked = audit.run(uow)
            for violation in violations[:5]:
                log(f"audit: {violation}")
            result["audit_violations"] = len(violations)
            result["audit_checked"] = checked
        finally:
            engine.dispose()
    if config.sqlite:
        log("measuring calculate on SQLite")
        result.update(sqlite_calculate(config))
    result.update(
        {
            "workers": config.workers,
            "members": config.members,
            "orders": config.orders,
            "duration_s": None if config.orders is not None else config.duration,
            "rounds": config.rounds,
            "spend_share": config.spend_share,
            "cart_lines": 3,
            "calculate_cart_lines": 20,
            "calc_iterations": config.calc_iterations,
            "quote_iterations": config.quote_iterations,
            "cpu_count": os.cpu_count(),
            # Other work on the machine shows here: the modes alternate, so their ratio suffers less from it.
            "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": server_version,
            "sqlalchemy": sqlalchemy.__version__,
            "psycopg": psycopg.__version__,
            "run_s": round(time.perf_counter() - began, 1),
        }
    )
    return result


def parse_args(argv: Sequence[str] | None = None) -> Config:
    defaults = Config(url="")
    parser = argparse.ArgumentParser(prog="python -m bench.confirm", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database",
        default=None,
        help="PostgreSQL server URL (default: $LOYALTY_BENCH_DATABASE_URL,"
        " else $LOYALTY_TEST_DATABASE_URL, else " + DEFAULT_URL + ")",
    )
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--members", type=int, default=defaults.members)
    parser.add_argument("--duration", type=float, default=defaults.duration, help="measured seconds per mode")
    parser.add_argument("--orders", type=int, default=None, help="a fixed number of orders per mode instead")
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--warmup-orders", type=int, default=defaults.warmup_orders, help="per worker and mode")
    parser.add_argument("--spend-share", type=float, default=defaults.spend_share)
    parser.add_argument("--calc-iterations", type=int, default=defaults.calc_iterations)
    parser.add_argument("--calc-warmup", type=int, default=defaults.calc_warmup)
    parser.add_argument("--quote-iterations", type=int, default=defaults.quote_iterations)
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite calculate measurement")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args(argv)
    return Config(
        url=args.database or bench_database_url(),
        workers=args.workers,
        members=args.members,
        duration=args.duration,
        orders=args.orders,
        rounds=args.rounds,
        warmup_orders=args.warmup_orders,
        spend_share=args.spend_share,
        calc_iterations=args.calc_iterations,
        calc_warmup=args.calc_warmup,
        quote_iterations=args.quote_iterations,
        sqlite=not args.no_sqlite,
        keep_database=args.keep_database,
    )


def report(config: Any, measure: Callable[[Any], dict[str, Any]]) -> None:
    """Run a benchmark's `measure` on its `config` (logged, without the database URL) and print its one JSON line:
    stdout carries that line and nothing else."""
    log(f"config: {json.dumps({k: v for k, v in asdict(config).items() if k != 'url'})}")
    with contextlib.redirect_stdout(sys.stderr):
        result = measure(config)
    print(json.dumps(result), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    report(parse_args(argv), run)


if __name__ == "__main__":
    main()
