"""Program totals: members, orders and points issued, spent, expired and outstanding."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def summary(uow: UnitOfWork, as_of: datetime) -> dict[str, Any]:
    e = t.ledger_entries
    by_kind = dict(uow.conn.execute(select(e.c.kind, func.sum(e.c.points)).group_by(e.c.kind)).all())
    orders = uow.conn.execute(
        select(func.count(), func.sum(case((t.orders.c.account_id.is_(None), 1), else_=0))).where(
            t.orders.c.status.in_(["confirmed", "cancelled"])
        )
    ).one()
    outstanding = uow.conn.execute(select(func.coalesce(func.sum(t.accounts.c.balance), 0))).scalar_one()
    earned = int(by_kind.get("earn", 0))
    actions = int(by_kind.get("action", 0))
    return {
        "as_of": as_of.isoformat(),
        "members": uow.conn.execute(select(func.count()).select_from(t.members)).scalar_one(),
        "orders": orders[0],
        "orders_of_non_members": int(orders[1] or 0),
        "points_issued": earned + actions + max(0, int(by_kind.get("adjust", 0))),
        "points_earned_on_orders": earned,
        "points_for_actions": actions,
        "points_spent": -int(by_kind.get("spend", 0)) - int(by_kind.get("return_spent", 0)),
        "points_taken_back_by_returns": -int(by_kind.get("return_earned", 0)),
        "points_expired": -int(by_kind.get("expire", 0)),
        "points_outstanding": int(outstanding),
    }
