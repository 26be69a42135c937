"""The migration that makes return ids unique per order keeps every recorded return, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loyalty.storage import tables as t
from loyalty.storage.database import make_engine
from loyalty.storage.migrate import alembic_config, upgrade

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _order(key: str) -> dict[str, Any]:
    return {
        "order_key": key,
        "account_id": None,
        "status": "confirmed",
        "occurred_at": NOW,
        "program_version": 1,
        "request_hash": "0" * 64,
        "total": 100_00,
        "points_applied": 0,
        "points_earned": 0,
        "hold_points": 0,
        "earn_lots": [],
        "request": {},
        "result": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


def _return(order_key: str, return_key: str) -> dict[str, Any]:
    return {
        "return_key": return_key,
        "order_key": order_key,
        "account_id": None,
        "request_hash": "0" * 64,
        "points_taken_back": 0,
        "points_given_back": 0,
        "shortfall": 0,
        "result": {"order_id": order_key, "return_id": return_key},
        "created_at": NOW,
    }


def test_returns_recorded_before_keep_their_ids_and_ids_repeat_across_orders_after(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0010")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(t.orders.insert(), [_order("A"), _order("B")])
            conn.execute(t.returns.insert(), [_return("A", "R-1"), _return("B", "R-2")])
        engine.dispose()
        upgrade(database_url)
        with engine.begin() as conn:
            conn.execute(t.returns.insert(), [_return("B", "R-1")])
            rows = conn.execute(
                select(t.returns.c.order_key, t.returns.c.return_key).order_by("order_key", "return_key")
            )
            assert rows.all() == [("A", "R-1"), ("B", "R-1"), ("B", "R-2")]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(t.returns.insert(), [_return("A", "R-1")])
    finally:
        engine.dispose()
