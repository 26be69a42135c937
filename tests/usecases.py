"""Helpers for the use-case tests of every area: the seed program, members, orders, and snapshots of what is stored.
Its fixtures are offered to every test by tests/conftest.py.

Every helper goes through the same use cases a caller uses, each in its own unit of work, so a test sees the
database exactly as the checkout, the jobs and the audit would."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select

from loyalty.audit import service as audit
from loyalty.campaigns import publishing
from loyalty.checkout import returns
from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.ledger import service as ledger
from loyalty.members import service as members
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

T = TypeVar("T")

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # the clock of every test, as in tests/conftest.py

# The seed figures: 5% cashback (10,000 ₽ → 500 points), 500 points for registering, 1,000 ₽ minimum check,
# at most 99% of an order payable with points, earn or spend, 14 pending days, points burn after 365 days.
SEED_PROGRAM: dict[str, Any] = {
    "name": "Seed",
    "currency": "RUB",
    "timezone": "Europe/Moscow",
    "earning": {"pending_days": 14, "rules": [{"id": "base", "name": "Cashback", "percent": 5}]},
    "redemption": {"min_check": "1000", "max_share_percent": 99, "earn_or_spend": True},
    "expiry": {"after_days": 365},
    "actions": {
        "registration": {"points": 500},
        "review": {"points": 100, "cap": {"count": 2, "per": "month"}},
        "email_open": {"points": 10, "cap": {"count": None}},
    },
}
PROGRAM_START = NOW - timedelta(days=60)
REGISTERED_AT = NOW - timedelta(days=30)
PHONE = "+79123456789"


def seed_program(**changes: Any) -> dict[str, Any]:
    """The seed document with top-level sections replaced (``seed_program(returns={...})``)."""
    document = copy.deepcopy(SEED_PROGRAM)
    document.update(changes)
    return document


def run(engine: Engine, use_case: Callable[[UnitOfWork], T]) -> T:
    """One use case in its own committed unit of work, as a request handler runs it."""
    with UnitOfWork(engine) as uow:
        result = use_case(uow)
        uow.commit()
        return result


def read(engine: Engine, query: Callable[[UnitOfWork], T]) -> T:
    with UnitOfWork(engine, read_only=True) as uow:
        return query(uow)


def publish(engine: Engine, document: dict[str, Any] | None = None, effective_from: datetime = PROGRAM_START) -> int:
    return run(
        engine, lambda uow: publishing.publish(uow, document or SEED_PROGRAM, effective_from, effective_from)
    ).number


def register(engine: Engine, phone: str = PHONE, at: datetime = REGISTERED_AT, **profile: Any) -> int:
    member = members.parse_member({"phone": phone, **profile})
    return run(engine, lambda uow: members.register(uow, member, at))


def adjust(engine: Engine, member_id: int, points: int, now: datetime = NOW) -> dict[str, Any]:
    return run(engine, lambda uow: ledger.adjust(uow, member_id, points, "tests", "test set-up", now))


def order(
    order_id: str,
    *lines: tuple[str, str, int],
    member: dict[str, Any] | None = None,
    points: int = 0,
    occurred_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An order body; each line is (sku, price, quantity), numbered "1", "2", ... as the checkout would."""
    body: dict[str, Any] = {
        "order_id": order_id,
        "lines": [
            {"line_id": str(i), "sku": sku, "category": "goods", "quantity": quantity, "price": price}
            for i, (sku, price, quantity) in enumerate(lines, start=1)
        ],
        **extra,
    }
    if member is not None:
        body["member"] = member
    if points:
        body["points"] = points
    if occurred_at is not None:
        body["occurred_at"] = occurred_at.isoformat()
    return body


def confirm(engine: Engine, body: dict[str, Any], now: datetime = NOW) -> dict[str, Any]:
    return run(engine, lambda uow: checkout.confirm(uow, parse_order(body, now), now))


def reserve(
    engine: Engine, body: dict[str, Any], now: datetime = NOW, hold: timedelta = checkout.DEFAULT_HOLD
) -> dict[str, Any]:
    return run(engine, lambda uow: checkout.reserve(uow, parse_order(body, now), now, hold))


def calculate(engine: Engine, body: dict[str, Any], now: datetime = NOW) -> dict[str, Any]:
    return read(engine, lambda uow: checkout.calculate(uow, parse_order(body, now), now))


def return_lines(
    engine: Engine, order_id: str, return_id: str, lines: list[tuple[str, int]], now: datetime = NOW
) -> dict[str, Any]:
    return run(engine, lambda uow: returns.return_lines(uow, order_id, return_id, lines, now))


def cancel(engine: Engine, order_id: str, now: datetime = NOW) -> dict[str, Any]:
    return run(engine, lambda uow: returns.cancel(uow, order_id, now))


def balance(engine: Engine, member_id: int, now: datetime = NOW) -> dict[str, Any]:
    return read(engine, lambda uow: ledger.balance(uow, member_id, now))


def entries(engine: Engine, member_id: int) -> list[dict[str, Any]]:
    return read(engine, lambda uow: ledger.entries(uow, member_id, limit=10_000))


def lots(engine: Engine, member_id: int) -> dict[int, Any]:
    """The member's lots by number, oldest first."""
    return read(
        engine,
        lambda uow: {
            row.lot_no: row
            for row in uow.conn.execute(
                select(t.lots).where(t.lots.c.account_id == member_id).order_by(t.lots.c.lot_no)
            )
        },
    )


def violations(engine: Engine) -> list[str]:
    return read(engine, lambda uow: [str(v) for v in audit.run(uow)[0]])


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every row count and every account's figures: equal snapshots mean nothing was written."""
    tables = (
        t.members,
        t.member_identifiers,
        t.accounts,
        t.ledger_entries,
        t.lots,
        t.lot_draws,
        t.orders,
        t.order_lines,
        t.returns,
        t.action_events,
        t.program_versions,
    )

    def take(uow: UnitOfWork) -> dict[str, Any]:
        counts = {
            table.name: uow.conn.execute(select(func.count()).select_from(table)).scalar_one() for table in tables
        }
        accounts = [tuple(r) for r in uow.conn.execute(select(t.accounts).order_by(t.accounts.c.account_id))]
        remaining = [
            tuple(r)
            for r in uow.conn.execute(
                select(t.lots.c.account_id, t.lots.c.lot_no, t.lots.c.remaining).order_by(
                    t.lots.c.account_id, t.lots.c.lot_no
                )
            )
        ]
        statuses = [tuple(r) for r in uow.conn.execute(select(t.orders.c.order_key, t.orders.c.status))]
        returned = [
            tuple(r) for r in uow.conn.execute(select(t.order_lines.c.order_key, t.order_lines.c.returned_quantity))
        ]
        return {
            "counts": counts,
            "accounts": accounts,
            "lots": remaining,
            "orders": sorted(statuses),
            "lines": sorted(returned),
        }

    return read(engine, take)


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """A database with the seed program in force since 60 days before NOW."""
    publish(engine)
    return engine


@pytest.fixture
def member(seeded: Engine) -> int:
    """A member registered 30 days before NOW: 500 registration points, spendable at once."""
    return register(seeded)


@pytest.fixture
def rich_member(seeded: Engine, member: int) -> int:
    """The member with 1,000 spendable points: the registration's 500 and an adjustment of 500 at NOW."""
    adjust(seeded, member, 500)
    assert balance(seeded, member)["available"] == 1000
    return member


@pytest.fixture
def clean_audit(seeded: Engine) -> Iterator[None]:
    """Checks after the test that the ledger's invariants hold."""
    yield
    assert violations(seeded) == []


MEMBER = {"phone": PHONE}
