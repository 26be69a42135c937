"""A small history for the accounting tests, built through the use cases, and independent computations over the
raw ledger rows in plain Python (no SQL aggregation) to hold the reports to.

The program: 5% cashback, 500 points for registering, 14 pending days, points burn 30 days after they are given;
1 point = 1 RUB until 15 October, 2 RUB from then (version 2). Program time zone: Moscow (UTC+3).

    member A  registers 09-05 (+500)  order a1 09-10 10,000.00 (+500); both lots burn unused (10-05, 10-10)
    member B  registers 09-20 (+500)  order b1 09-25  2,000.00 (+100)
                                      order b2 10-10  2 × 1,500.00 paying 500 points (-500, earns nothing)
                                      order b3 10-20  4,000.00 (+100 at 2 RUB a point); return 10-25 of one unit
                                      return 10-26 of one unit of b2 (+250 given back)
    member C  registers 10-03 (+500)  order c1 10-05  1,500.00 (+75)
                                      order c2 10-15  2,000.00 (+50), cancelled 10-16 (-50)
                                      adjustments 10-22 +40, 10-23 -30
    non-member order n1 10-12 5,000.00
    member D  registers at 23:30 Moscow on 10-31 (20:30 UTC): the October cohort, not November's
    The expiry job runs on 12-01: every lot left burns on its day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from loyalty.ledger import jobs
from loyalty.ledger import service as ledger
from loyalty.storage import tables as t
from tests.usecases import cancel, confirm, order, publish, read, register, return_lines, run, seed_program

MOSCOW = ZoneInfo("Europe/Moscow")
VALUE_CHANGES = datetime(2026, 10, 15, tzinfo=UTC)


def day(month: int, d: int, hour: int = 12) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=UTC)


def buy(engine: Engine, key: str, at: datetime, *lines: tuple[str, str, int], phone: str, points: int = 0) -> None:
    body = order(key, *lines, member={"phone": phone}, points=points, occurred_at=at)
    confirm(engine, body, now=at + timedelta(minutes=1))


def build(engine: Engine) -> dict[str, int]:
    """The history above; the members' ids by letter."""
    publish(engine, seed_program(expiry={"after_days": 30}), effective_from=datetime(2026, 8, 1, tzinfo=UTC))
    publish(engine, seed_program(expiry={"after_days": 30}, point_value="2"), effective_from=VALUE_CHANGES)
    phones = {letter: f"+7912000000{n}" for n, letter in enumerate("ABCD", start=1)}
    ids = {"A": register(engine, phones["A"], at=day(9, 5))}
    buy(engine, "a1", day(9, 10), ("x", "10000", 1), phone=phones["A"])
    ids["B"] = register(engine, phones["B"], at=day(9, 20))
    buy(engine, "b1", day(9, 25), ("x", "2000", 1), phone=phones["B"])
    ids["C"] = register(engine, phones["C"], at=day(10, 3))
    buy(engine, "c1", day(10, 5), ("x", "1500", 1), phone=phones["C"])
    jobs.expire(engine, day(10, 6), day(10, 6))
    confirm(engine, order("n1", ("x", "5000", 1), occurred_at=day(10, 12)), now=day(10, 12))  # a non-member's
    buy(engine, "b2", day(10, 10), ("x", "1500", 2), phone=phones["B"], points=500)
    buy(engine, "c2", day(10, 15), ("x", "2000", 1), phone=phones["C"])
    cancel(engine, "c2", now=day(10, 16))
    buy(engine, "b3", day(10, 20), ("x", "1000", 3), ("y", "1000", 1), phone=phones["B"])
    for points, at in ((40, day(10, 22)), (-30, day(10, 23))):
        adjust(engine, ids["C"], points, at)
    return_lines(engine, "b3", "r1", [("1", 1)], now=day(10, 25))
    return_lines(engine, "b2", "r2", [("1", 1)], now=day(10, 26))
    ids["D"] = register(engine, phones["D"], at=datetime(2026, 10, 31, 20, 30, tzinfo=UTC))
    jobs.expire(engine, day(12, 1), day(12, 1))
    return ids


def adjust(engine: Engine, member_id: int, points: int, at: datetime) -> None:
    run(engine, lambda uow: ledger.adjust(uow, member_id, points, "tests", "goodwill", at))


def rows(engine: Engine, table: Any) -> list[Any]:
    return read(engine, lambda uow: list(uow.conn.execute(select(table))))


def local_month(at: datetime, zone: tzinfo = MOSCOW) -> str:
    return at.astimezone(zone).strftime("%Y-%m")


def point_value(at: datetime) -> int:
    """Minor units a point is worth at `at` (kopecks): 1 RUB, then 2 RUB from VALUE_CHANGES."""
    return 200 if at >= VALUE_CHANGES else 100


def outstanding(engine: Engine, before: datetime) -> int:
    return sum(e.points for e in rows(engine, t.ledger_entries) if e.occurred_at < before)


def cohorts(engine: Engine, months: list[str]) -> dict[str, Any]:
    """{cohort month: (registered, {month: active members})} by plain Python over members and entries."""
    registered: dict[str, set[int]] = defaultdict(set)
    for m in rows(engine, t.members):
        registered[local_month(m.registered_at)].add(m.member_id)
    active: dict[str, set[int]] = defaultdict(set)
    for e in rows(engine, t.ledger_entries):
        if e.kind in ("earn", "spend"):
            active[local_month(e.occurred_at)].add(e.account_id)
    return {c: (len(registered[c]), {m: len(registered[c] & active[m]) for m in months if m >= c}) for c in months}


def lots_at(engine: Engine, as_of: datetime) -> dict[tuple[int, int], dict[str, Any]]:
    """Each lot credited before `as_of` with what it held then and what left it as redemption and expiry."""
    entries = {(e.account_id, e.entry_no): e for e in rows(engine, t.ledger_entries)}
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for lot in rows(engine, t.lots):
        if entries[(lot.account_id, lot.entry_no)].occurred_at < as_of:
            found[(lot.account_id, lot.lot_no)] = {"lot": lot, "held": lot.points, "redeemed": 0, "expired": 0}
    for draw in rows(engine, t.lot_draws):
        entry = entries[(draw.account_id, draw.entry_no)]
        key = (draw.account_id, draw.lot_no)
        if entry.occurred_at >= as_of or key not in found:
            continue
        found[key]["held"] -= draw.points
        if entry.kind in ("spend", "return_spent"):
            found[key]["redeemed"] += draw.points
        elif entry.kind == "expire":
            found[key]["expired"] += draw.points
    return found


def breakage(engine: Engine, as_of: datetime) -> tuple[int, int]:
    """(expired, redeemed) points of the lots matured by `as_of`."""
    expired = redeemed = 0
    for state in lots_at(engine, as_of).values():
        lot = state["lot"]
        past = lot.expires_at is not None and lot.expires_at <= as_of
        if past or state["held"] == 0:
            expired += state["expired"] + (state["held"] if past else 0)
            redeemed += state["redeemed"]
    return expired, redeemed


MOVEMENT = {
    ("earn", True): "issued",
    ("action", True): "issued_bonus",
    ("spend", False): "redeemed",
    ("expire", False): "expired",
    ("return_earned", False): "reversed_issue",
    ("return_spent", True): "reversed_redemption",
    ("adjust", True): "adjusted_credit",
    ("adjust", False): "adjusted_debit",
}


def journal(engine: Engine, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """{local date: {movement: points}} of the entries of [start, end)."""
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in rows(engine, t.ledger_entries):
        if start <= e.occurred_at < end and e.points:
            days[e.occurred_at.astimezone(MOSCOW).date().isoformat()][MOVEMENT[(e.kind, e.points > 0)]] += e.points
    return {d: dict(m) for d, m in days.items()}
