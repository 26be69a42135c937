"""Calculate latency with 20 campaigns and 10 segments next to the same program with none (`make bench-campaigns`).

The requirement: `checkout.calculate` p99 with 20 active campaigns and 10 segments stays within 1.5× of the
program with none. This prints both, as one JSON line, and never asserts on time.

Two identical databases per backend (PostgreSQL always, SQLite files with --sqlite): the same program (5% cashback,
a tier policy), the same members with the same profiles and the same order history, confirmed through
checkout.confirm with `occurred_at` in the past, so members hold tiers, lots and purchase facts. The second database
is a copy of the first (CREATE DATABASE ... TEMPLATE on PostgreSQL, the SQLite backup API), made before anything
differs, so both start byte for byte alike. Then only the copy gets 10 rule segments (RFM scores, average-check
bands, purchase counts, recency, tier and spend, a profile one), recomputed by the segments job, and 20 campaigns
and offers, all in force at the measured instant: everyone, segment, tier and member-list audiences, categories,
channels, SKU exclusions, percent, bands, per-step, fixed points and multipliers, add/best/exclusive stacking,
budgets, per-member caps, an hours window around the instant and a redemption campaign.

What it measures: UnitOfWork(read_only=True) + checkout.calculate of a 20-line cart in 8 categories for random
members paying part of it with points (requests parsed outside the timing; both databases get the same requests
in the same order). The modes alternate over `rounds` windows (none first in odd rounds, campaigns first in even
ones), so neither profits from a load change on the machine; the load average before and after is reported.
`campaign_points_per_quote` shows the campaigns really earned. The pure-domain figure, `quote` with and without
the 20 parsed campaigns (and the member's segments, list membership and limits), is measured the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import platform
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy
from sqlalchemy import Engine, create_engine, make_url, text

from bench.confirm import DEFAULT_URL, bench_database_url, fresh_database, latency_ms, log, percentile, report
from bench.confirm import PROGRAM as CASHBACK
from loyalty.campaigns import offerings
from loyalty.campaigns import service as campaigns
from loyalty.checkout import service as checkout
from loyalty.checkout.quote import quote
from loyalty.checkout.requests import OrderRequest, parse_order
from loyalty.members import service as members
from loyalty.program import service as programs
from loyalty.segments import service as segments
from loyalty.storage.database import UnitOfWork, make_engine, normalise_url
from loyalty.storage.migrate import upgrade

TIERS = {
    "qualify_by": "spend",
    "levels": [
        {"id": "silver", "name": "Silver", "from": "0"},
        {"id": "gold", "name": "Gold", "from": "10000", "multiplier": "1.25"},
        {"id": "platinum", "name": "Platinum", "from": "40000", "multiplier": "1.5"},
    ],
}
PROGRAM: dict[str, Any] = {**CASHBACK, "name": "Benchmark cashback with tiers", "tiers": TIERS}
TIMEZONE = ZoneInfo(str(PROGRAM["timezone"]))
CATEGORIES = ("coffee", "bakery", "drinks", "household", "grocery", "dairy", "frozen", "pet")
CART_LINES = 20
MODES = ("none", "campaigns")
CAMPAIGN_SOURCES = ("campaign:", "offer:")

SEGMENTS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("champions", "Champions", [{"recency_score": {"min": 4}}, {"frequency_score": {"min": 4}}]),
    ("at-risk", "Valuable, not seen lately", [{"recency_score": {"max": 2}}, {"monetary_score": {"min": 3}}]),
    ("check-800", "Usually about 800", [{"average_check": {"min": "700", "max": "900"}}]),
    ("big-check", "Big baskets", [{"average_check": {"min": "3000"}}]),
    ("frequent", "Frequent buyers", [{"purchase_count": {"min": 6}}]),
    ("new-buyers", "One or two purchases", [{"purchase_count": {"min": 1, "max": 2}}]),
    ("lapsing", "No purchase for 45 days", [{"days_since_last_purchase": {"min": 45}}]),
    ("recent", "Bought in the last two weeks", [{"days_since_last_purchase": {"max": 14}}]),
    ("gold-spenders", "Gold and up, 20,000 spent", [{"tier": ["gold", "platinum"]}, {"total_spend": {"min": "20000"}}]),
    (
        "moscow-women-sms",
        "Women 25-45 in Moscow, SMS allowed",
        [{"city": "Moscow"}, {"gender": "female"}, {"age": {"min": 25, "max": 45}}, {"consent": {"sms": True}}],
    ),
]


def log_to_stderr(message: str) -> None:
    log(f"campaigns: {message}")


@dataclass
class Config:
    url: str
    members: int = 2000
    orders_per_member: int = 5  # the average; members have 1 .. 2n-1 orders
    samples: int = 3000  # measured calculates per mode and database, split over the rounds
    rounds: int = 4
    warmup: int = 200  # per mode and database, not measured
    quote_iterations: int = 5000  # per mode
    sqlite: bool = False
    seed: int = 20261101
    keep_database: bool = False
    profile: str | None = None  # a directory for cProfile dumps of one more pass of each mode


# The campaigns and offers: 16 campaigns, 4 personal offers, every one in force at `at`.


def campaign_definitions(at: datetime, listed: Sequence[int]) -> list[tuple[dict[str, Any], bool]]:
    """Each definition and whether it is a personal offer; `listed` are the members of the list offer."""
    local = at.astimezone(TIMEZONE)
    period = {
        "starts_at": (local.date() - timedelta(days=7)).isoformat(),
        "ends_at": (local.date() + timedelta(days=30)).isoformat(),
    }
    # A window of six hours around the instant, past midnight when the instant is late in the evening.
    hours = {"from": f"{(local - timedelta(hours=3)):%H:%M}", "to": f"{(local + timedelta(hours=3)):%H:%M}"}
    everyone: list[dict[str, Any]] = [
        {"id": "coffee-x2", "earning": {"categories": ["coffee"], "multiplier": 2}}
        | {"budget_points": 50_000_000, "per_member_cap_points": 5000},
        {"id": "bakery-10-best", "earning": {"categories": ["bakery"], "percent": 10}, "stacking": "best"}
        | {"days_of_week": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
        {"id": "happy-hours-drinks", "hours": hours, "earning": {"categories": ["drinks"], "percent": 7}},
        {"id": "big-basket-100", "earning": {"min_order_amount": "3000", "fixed_points": 100}}
        | {"per_member_cap_points": 100_000},
        {
            "id": "household-per-500",
            "earning": {"categories": ["household"], "per_step": {"every": "500", "points": 10}},
        },
        {
            "id": "grocery-bands",
            "earning": {
                "categories": ["grocery"],
                "bands": [{"up_to": "1000", "percent": 2}, {"up_to": "5000", "percent": 4}, {"percent": 6}],
            },
        },
        {"id": "web-1", "earning": {"channels": ["web"], "percent": 1}},
        {"id": "frozen-4", "earning": {"categories": ["frozen"], "exclude_skus": ["sku-1006"], "percent": 4}},
        {"id": "points-pay-half", "redemption": {"max_share_percent": 50, "min_check": "500"}, "priority": 5},
    ]
    aimed: list[dict[str, Any]] = [
        {"id": "gold-x1.25", "audience": {"tiers": ["gold", "platinum"]}, "earning": {"multiplier": "1.25"}},
        {"id": "silver-welcome", "audience": {"tiers": ["silver"]}}
        | {"earning": {"min_order_amount": "1000", "fixed_points": 20}},
        {"id": "champions-12-best", "audience": {"segments": ["champions"]}, "earning": {"percent": 12}}
        | {"stacking": "best", "priority": 10},
        {"id": "at-risk-comeback", "audience": {"segments": ["at-risk"]}, "stacking": "exclusive", "priority": 100}
        | {"earning": {"percent": 15, "max_points_per_order": 500}},
        {"id": "lapsing-10-best", "audience": {"segments": ["lapsing"]}, "earning": {"percent": 10}}
        | {"stacking": "best", "budget_points": 10_000_000},
        {"id": "recent-dairy-x2", "audience": {"segments": ["recent"]}}
        | {"earning": {"categories": ["dairy"], "multiplier": 2}, "per_member_cap_points": 3000},
        {"id": "gold-spenders-75", "audience": {"segments": ["gold-spenders"]}}
        | {"earning": {"min_order_amount": "2000", "fixed_points": 75}, "per_member_cap_points": 2000},
    ]
    offers: list[dict[str, Any]] = [
        {"id": "check-800-to-1000", "audience": {"segments": ["check-800"]}, "stacking": "best"}
        | {"earning": {"percent": 10, "min_order_amount": "1000"}},
        {"id": "big-check-dairy-x3", "audience": {"segments": ["big-check"]}}
        | {"earning": {"categories": ["dairy"], "multiplier": 3}},
        {"id": "new-buyers-bakery-8", "audience": {"segments": ["new-buyers", "frequent", "moscow-women-sms"]}}
        | {"earning": {"categories": ["bakery", "coffee"], "percent": 8}},
        {"id": "vip-list-3", "audience": {"members": [{"member_id": m} for m in listed]}}
        | {"earning": {"percent": 3}, "budget_points": 5_000_000, "per_member_cap_points": 10_000},
    ]
    named = [(d, False) for d in everyone + aimed] + [(d, True) for d in offers]
    return [({"name": d["id"].replace("-", " ").capitalize(), **period, **d}, personal) for d, personal in named]


# Members and their history


@dataclass(frozen=True)
class Shopper:
    """A member's profile and buying habits, drawn once and used for both databases."""

    number: int
    profile: dict[str, Any]
    city: str
    orders: int
    check: float  # the typical check, roubles
    days_ago: tuple[int, ...]  # one per order, oldest first; the oldest is at least 20 days ago


def draw_shopper(rng: random.Random, number: int, per_member: int) -> Shopper:
    orders = rng.randint(1, max(1, 2 * per_member - 1))
    band = rng.random()
    check = rng.uniform(600, 950) if band < 0.3 else rng.uniform(950, 3000) if band < 0.75 else rng.uniform(3000, 8000)
    recency = rng.random()
    last = rng.randint(1, 14) if recency < 0.4 else rng.randint(15, 44) if recency < 0.7 else rng.randint(45, 150)
    first = max(last, rng.randint(20, 200))  # the oldest order's points are spendable by now
    middle = sorted((rng.randint(last, first) for _ in range(orders - 2)), reverse=True)
    days_ago = (first,) if orders == 1 else (first, *middle, last)
    profile = {
        "card": f"CAMP-{number:07d}",
        "name": f"Campaign bench member {number}",
        "gender": rng.choice(["female", "male", "female", "male", "other"]),
        "birth_date": date(rng.randint(1955, 2005), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
        "consents": {"personal_data": True, "sms": rng.random() < 0.5, "email": rng.random() < 0.3},
    }
    return Shopper(number, profile, rng.choice(["Moscow", "Kazan", "Tver"]), orders, check, days_ago)


def history_order(rng: random.Random, member_id: int, index: int, shopper: Shopper, at: datetime) -> dict[str, Any]:
    """One past purchase of 1..5 lines adding up to about the shopper's typical check."""
    lines = rng.randint(1, 5)
    total = shopper.check * rng.uniform(0.8, 1.2)
    occurred = at - timedelta(days=shopper.days_ago[index], minutes=rng.randint(0, 600))
    return {
        "order_id": f"h-{member_id}-{index}",
        "member": {"member_id": member_id},
        "occurred_at": occurred.isoformat(),
        "channel": "pos",
        "store": f"store-{rng.randrange(40)}",
        "lines": [
            {
                "sku": f"sku-{rng.randrange(2000)}",
                "category": rng.choice(CATEGORIES),
                "quantity": 1,
                "price": f"{max(total / lines, 10):.2f}",
            }
            for _ in range(lines)
        ],
    }


def build_history(engine: Engine, config: Config, at: datetime) -> list[int]:
    """Publish the program, register the members and confirm their past orders; the member ids."""
    with UnitOfWork(engine) as uow:
        programs.publish(uow, PROGRAM, at - timedelta(days=400), at)
        uow.commit()
    rng = random.Random(config.seed)
    shoppers = [draw_shopper(rng, n, config.orders_per_member) for n in range(1, config.members + 1)]
    member_ids: list[int] = []
    batch = 25  # members per transaction: each of their orders still goes through checkout.confirm
    for start in range(0, len(shoppers), batch):
        with UnitOfWork(engine) as uow:
            for shopper in shoppers[start : start + batch]:
                member = members.parse_member(shopper.profile)
                member = replace(member, attributes={"city": shopper.city}, registered_at=at - timedelta(days=300))
                member_id = members.register(uow, member, at)
                member_ids.append(member_id)
                for index in range(shopper.orders):
                    order = history_order(rng, member_id, index, shopper, at)
                    checkout.confirm(uow, parse_order(order, at), at)
            uow.commit()
    return member_ids


def add_segments_and_campaigns(engine: Engine, member_ids: Sequence[int], at: datetime) -> dict[str, int]:
    """The 10 rule segments, recomputed by the job as of `at`, then the 20 campaigns and offers; each segment's
    member count."""
    with UnitOfWork(engine) as uow:
        for segment_id, name, conditions in SEGMENTS:
            segments.create(uow, {"segment_id": segment_id, "name": name, "kind": "rule", "conditions": conditions}, at)
        uow.commit()
    segments.recompute(engine, at)
    with UnitOfWork(engine) as uow:
        for definition, personal in campaign_definitions(at, member_ids[::10]):
            campaigns.create(uow, definition, at, personal=personal)
        counts = {s["segment_id"]: s["member_count"] for s in segments.list_segments(uow)}
        uow.commit()
    return counts


def settle(engine: Engine) -> None:
    """Planner statistics and a clean heap, as a database in service has them."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


# Databases: the one with the history, and its copy


@contextlib.contextmanager
def copy_of_postgres(server_url: str, source_url: str, *, keep: bool = False) -> Iterator[str]:
    """A new database on the server, created from `source_url`'s as its template (nobody may be connected to it)."""
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    source = make_url(normalise_url(source_url)).database
    name = f"loyalty_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
        log_to_stderr(f"created database {name}, a copy of {source}")
        try:
            yield make_url(normalise_url(server_url)).set(database=name).render_as_string(hide_password=False)
        finally:
            if not keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log_to_stderr(f"dropped database {name}")
    finally:
        admin.dispose()


@contextlib.contextmanager
def postgres_pair(config: Config, at: datetime) -> Iterator[tuple[str, str, list[int]]]:
    with fresh_database(config.url, keep=config.keep_database) as none_url:
        engine = make_engine(none_url)
        try:
            member_ids = build_history(engine, config, at)
        finally:
            engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the source without connections
        with copy_of_postgres(config.url, none_url, keep=config.keep_database) as campaigns_url:
            yield none_url, campaigns_url, member_ids


@contextlib.contextmanager
def sqlite_pair(config: Config, at: datetime) -> Iterator[tuple[str, str, list[int]]]:
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-campaigns-") as tmp:
        none_path, campaigns_path = Path(tmp) / "none.db", Path(tmp) / "campaigns.db"
        upgrade(f"sqlite:///{none_path}")
        engine = make_engine(f"sqlite:///{none_path}")
        try:
            member_ids = build_history(engine, config, at)
        finally:
            engine.dispose()
        with (
            contextlib.closing(sqlite3.connect(none_path)) as source,
            contextlib.closing(sqlite3.connect(campaigns_path)) as target,
        ):
            source.backup(target)  # consistent whatever is still in the write-ahead log
        yield f"sqlite:///{none_path}", f"sqlite:///{campaigns_path}", member_ids


# The requests


def cart_order(rng: random.Random, member_id: int, points: int) -> dict[str, Any]:
    """A 20-line web cart over every category, some lines of several units, paying `points` points."""
    return {
        "order_id": f"calc-{rng.randrange(10**9)}",
        "member": {"member_id": member_id},
        "points": points,
        "channel": "web",
        "store": "online",
        "lines": [
            {
                "line_id": str(i + 1),
                "sku": f"sku-{1000 + i}",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "quantity": rng.choice([1, 1, 1, 2, 3]),
                "price": f"{rng.randint(40, 1500)}.{rng.randrange(100):02d}",
            }
            for i in range(CART_LINES)
        ],
    }


def calculate(engine: Engine, request: OrderRequest, at: datetime) -> dict[str, Any]:
    with UnitOfWork(engine, read_only=True) as uow:
        result: dict[str, Any] = checkout.calculate(uow, request, at)
    return result


def sample_requests(engine: Engine, member_ids: Sequence[int], n: int, seed: int, at: datetime) -> list[OrderRequest]:
    """`n` parsed requests of random members, each paying 50..300 points or all they have when less."""
    rng = random.Random(seed + 1)
    chosen = [rng.choice(member_ids) for _ in range(n)]
    available: dict[int, int] = {}
    for member_id in sorted(set(chosen)):
        probe = parse_order(cart_order(rng, member_id, 0), at)
        available[member_id] = int(calculate(engine, probe, at)["balance_available"])
    return [parse_order(cart_order(rng, m, min(available[m], rng.randint(50, 300))), at) for m in chosen]


# Measuring


def campaign_points(result: dict[str, Any]) -> dict[str, int]:
    """What each campaign and offer gave in a calculate result."""
    given: dict[str, int] = {}
    for line in result["lines"]:
        for part in line["earned_by"]:
            if part["rule"].startswith(CAMPAIGN_SOURCES):
                given[part["rule"]] = given.get(part["rule"], 0) + part["points"]
    return given


def rounds_of(n: int, rounds: int) -> list[range]:
    bounds = [n * r // rounds for r in range(rounds + 1)]
    return [range(bounds[r], bounds[r + 1]) for r in range(rounds)]


def mode_order(round_index: int) -> tuple[str, str]:
    """None first in odd rounds (1, 3, ...), campaigns first in even ones."""
    return MODES if round_index % 2 == 0 else MODES[::-1]


def measure_calculate(
    engines: dict[str, Engine], requests: Sequence[OrderRequest], config: Config, at: datetime
) -> dict[str, Any]:
    warm, measured = requests[: config.warmup], requests[config.warmup :]
    for mode in MODES:
        for request in warm:
            calculate(engines[mode], request, at)
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    given: dict[str, list[dict[str, int]]] = {mode: [] for mode in MODES}
    earned: dict[str, list[int]] = {mode: [] for mode in MODES}
    by_round = []
    for r, window in enumerate(rounds_of(len(measured), config.rounds)):
        p99 = {}
        for mode in mode_order(r):
            engine, times = engines[mode], []
            for i in window:
                t0 = time.perf_counter()
                result = calculate(engine, measured[i], at)
                times.append(time.perf_counter() - t0)
                given[mode].append(campaign_points(result))
                earned[mode].append(result["points_to_earn"])
            seconds[mode] += times
            p99[mode] = percentile(times, 99)
        by_round.append(round(p99["campaigns"] / p99["none"], 3))
    stats = {**latency_ms("calculate_none", seconds["none"]), **latency_ms("calculate_campaigns", seconds["campaigns"])}
    quoted = given["campaigns"]
    return {
        **stats,
        "p99_ratio": round(stats["calculate_campaigns_p99_ms"] / stats["calculate_none_p99_ms"], 3),
        "p50_ratio": round(stats["calculate_campaigns_p50_ms"] / stats["calculate_none_p50_ms"], 3),
        "p99_ratio_by_round": by_round,
        "samples": len(measured),
        "campaign_points_per_quote": round(sum(sum(g.values()) for g in quoted) / len(quoted), 1),
        "campaigns_earning_per_quote": round(sum(len(g) for g in quoted) / len(quoted), 2),
        "quotes_with_campaign_points": round(sum(1 for g in quoted if g) / len(quoted), 3),
        "campaigns_that_earned": len({source for g in quoted for source in g}),
        "quotes_earning_by_campaign": {
            s: sum(1 for g in quoted if s in g) for s in sorted({s for g in quoted for s in g})
        },
        "none_campaign_points": sum(sum(g.values()) for g in given["none"]),
        "points_to_earn_none_per_quote": round(sum(earned["none"]) / len(quoted), 1),
        "points_to_earn_campaigns_per_quote": round(sum(earned["campaigns"]) / len(quoted), 1),
    }


def campaigns_in_force(engine: Engine, at: datetime) -> int:
    with UnitOfWork(engine, read_only=True) as uow:
        program = programs.version_at(uow, at).program
        return len(offerings.offerings(uow, program, None, at).campaigns)


def quote_inputs(
    engine: Engine, requests: Sequence[OrderRequest], at: datetime
) -> list[dict[str, Callable[[], object]]]:
    """For each request, the pure quote without and with the campaigns, everything read beforehand."""
    calls: list[dict[str, Callable[[], object]]] = []
    with UnitOfWork(engine, read_only=True) as uow:
        program = programs.version_at(uow, at).program
        for request in requests:
            assert request.member is not None
            member_id = int(request.member["member_id"])
            cart = request.cart(program)
            available = checkout.calculate(uow, request, at)["balance_available"]
            offer = offerings.offerings(uow, program, member_id, at)
            skus = {line.sku for line in cart.lines}
            plain = checkout.member_attributes(uow, program, member_id, skus)
            aimed = checkout.member_attributes(uow, program, member_id, skus, offer.campaigns) | offer.attributes
            common = partial(quote, program, cart, available=available, requested=request.points, is_member=True)
            calls.append(
                {
                    "none": partial(common, member_attributes=plain),
                    "campaigns": partial(
                        common, member_attributes=aimed, campaigns=offer.campaigns, campaign_limits=offer.limits
                    ),
                }
            )
    return calls


def measure_quote(calls: Sequence[dict[str, Callable[[], object]]], config: Config) -> dict[str, Any]:
    for mode in MODES:
        for call in calls:
            call[mode]()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for r, window in enumerate(rounds_of(config.quote_iterations, config.rounds)):
        for mode in mode_order(r):
            for i in window:
                fn = calls[i % len(calls)][mode]
                t0 = time.perf_counter()
                fn()
                seconds[mode].append(time.perf_counter() - t0)
    stats = {**latency_ms("quote_none", seconds["none"]), **latency_ms("quote_campaigns", seconds["campaigns"])}
    return {**stats, "quote_p99_ratio": round(stats["quote_campaigns_p99_ms"] / stats["quote_none_p99_ms"], 3)}


def profile_modes(engines: dict[str, Engine], requests: Sequence[OrderRequest], at: datetime, out: Path) -> None:
    """One more pass of each mode under cProfile, dumped for pstats (`python -m pstats FILE`)."""
    out.mkdir(parents=True, exist_ok=True)
    for mode in MODES:
        profiler = cProfile.Profile()
        profiler.enable()
        for request in requests:
            calculate(engines[mode], request, at)
        profiler.disable()
        profiler.dump_stats(out / f"{engines[mode].dialect.name}-{mode}.prof")
    log_to_stderr(f"profiles written to {out}")


# The whole run


def measure_backend(
    config: Config, pair: Callable[[Config, datetime], contextlib.AbstractContextManager[tuple[str, str, list[int]]]]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Build the two databases of one backend, measure them; the backend's figures and, on PostgreSQL, the
    pure-domain quote figures (measured on the campaigns database's data)."""
    began = time.perf_counter()
    at = datetime.now(UTC).replace(microsecond=0)
    with pair(config, at) as (none_url, campaigns_url, member_ids):
        engines = {"none": make_engine(none_url), "campaigns": make_engine(campaigns_url)}
        try:
            counts = add_segments_and_campaigns(engines["campaigns"], member_ids, at)
            for engine in engines.values():
                settle(engine)
            requests = sample_requests(engines["none"], member_ids, config.warmup + config.samples, config.seed, at)
            dialect = engines["none"].dialect.name
            setup_s = time.perf_counter() - began
            log_to_stderr(f"{dialect}: set up in {setup_s:.1f} s, measuring calculate")
            load_before = os.getloadavg()[0]
            result = measure_calculate(engines, requests, config, at)
            load_after = os.getloadavg()[0]
            quotes = None
            if dialect == "postgresql":
                log_to_stderr("measuring the pure quote")
                quotes = measure_quote(quote_inputs(engines["campaigns"], requests[:200], at), config)
            if config.profile:
                profile_modes(engines, requests[config.warmup :], at, Path(config.profile))
            result |= {
                "campaigns_in_force": campaigns_in_force(engines["campaigns"], at),
                "segments": len(counts),
                "segment_members": counts,
                "members": len(member_ids),
                "load_avg_1m_before": round(load_before, 2),
                "load_avg_1m_after": round(load_after, 2),
                "setup_s": round(setup_s, 1),
            }
            with engines["none"].connect() as conn:
                version = "SHOW server_version" if dialect == "postgresql" else "SELECT sqlite_version()"
                result["server_version"] = conn.execute(text(version)).scalar()
            return result, quotes
        finally:
            for engine in engines.values():
                engine.dispose()


def run(config: Config) -> dict[str, Any]:
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    result: dict[str, Any] = {}
    result["postgresql"], quotes = measure_backend(config, postgres_pair)
    if config.sqlite:
        result["sqlite"], _ = measure_backend(config, sqlite_pair)
    assert quotes is not None
    result |= quotes
    result |= {
        "p99_ratio_limit": 1.5,
        "cart_lines": CART_LINES,
        "orders_per_member": config.orders_per_member,
        "rounds": config.rounds,
        "cpu_count": os.cpu_count(),
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "run_s": round(time.perf_counter() - began, 1),
    }
    return result


def parse_args(argv: Sequence[str] | None = None) -> Config:
    defaults = Config(url="")
    parser = argparse.ArgumentParser(prog="python -m bench.campaigns", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default=None,
        help="PostgreSQL server URL; fresh databases are created on it and dropped (default:"
        " $LOYALTY_BENCH_DATABASE_URL, else $LOYALTY_TEST_DATABASE_URL, else " + DEFAULT_URL + ")",
    )
    parser.add_argument("--members", type=int, default=defaults.members)
    parser.add_argument("--orders-per-member", type=int, default=defaults.orders_per_member, help="on average")
    parser.add_argument("--samples", type=int, default=defaults.samples, help="measured calculates per mode")
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="calculates per mode, not measured")
    parser.add_argument("--quote-iterations", type=int, default=defaults.quote_iterations)
    parser.add_argument("--sqlite", action="store_true", help="measure on SQLite files as well")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--keep-database", action="store_true", help="do not drop the PostgreSQL databases")
    parser.add_argument("--profile", default=None, metavar="DIR", help="also dump cProfile stats of each mode here")
    args = parser.parse_args(argv)
    return Config(
        url=args.url or bench_database_url(),
        members=args.members,
        orders_per_member=args.orders_per_member,
        samples=args.samples,
        rounds=args.rounds,
        warmup=args.warmup,
        quote_iterations=args.quote_iterations,
        sqlite=args.sqlite,
        seed=args.seed,
        keep_database=args.keep_database,
        profile=args.profile,
    )


def main(argv: Sequence[str] | None = None) -> None:
    report(parse_args(argv), run)


if __name__ == "__main__":
    main()
