"""Migration 0004 fills in accounts.hold_until from the reservations already stored, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import select

from loyalty.storage import tables as t
from loyalty.storage.database import make_engine
from loyalty.storage.migrate import alembic_config, upgrade

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _order(key: str, account_id: int, status: str, hold_expires_at: datetime | None) -> dict[str, Any]:
    return {
        "order_key": key,
        "account_id": account_id,
        "status": status,
        "occurred_at": NOW,
        "program_version": 1,
        "request_hash": "0" * 64,
        "total": 100_00,
        "points_applied": 0,
        "points_earned": 0,
        "hold_points": 10,
        "hold_expires_at": hold_expires_at,
        "earn_lots": [],
        "request": {},
        "result": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_hold_until_is_the_end_of_each_accounts_last_reservation(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0003")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(t.accounts.insert(), [{"account_id": n, "balance": 0, "debt": 0, "seq": 0} for n in (1, 2, 3)])
            conn.execute(
                t.orders.insert(),
                [
                    _order("a", 1, "reserved", NOW + timedelta(minutes=5)),
                    _order("b", 1, "reserved", NOW + timedelta(minutes=15)),
                    _order("c", 1, "released", NOW + timedelta(hours=1)),  # holds nothing any more
                    _order("d", 2, "confirmed", NOW + timedelta(hours=1)),
                ],
            )
        engine.dispose()
        upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(select(t.accounts.c.account_id, t.accounts.c.hold_until).order_by("account_id"))
            assert rows.all() == [(1, NOW + timedelta(minutes=15)), (2, None), (3, None)]
    finally:
        engine.dispose()
