"""Program totals: members, orders and points issued, spent, expired and outstanding."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def summary(uow: UnitOfWork, as_of: datetime) -> dict[str, Any]:
    """The totals as they stood at `as_of`: the members registered, the orders placed and the ledger entries that
    occurred up to that instant. Each counts at the time it happened, not when it was recorded, so an imported
    history reads as it was then. Points outstanding are the sum of those entries, which is what the balances were."""
    e = t.ledger_entries
    by_kind = {
        kind: int(points)
        for kind, points in uow.conn.execute(
            select(e.c.kind, func.sum(e.c.points)).where(e.c.occurred_at <= as_of).group_by(e.c.kind)
        )
    }
    orders = uow.conn.execute(
        select(func.count(), func.sum(case((t.orders.c.account_id.is_(None), 1), else_=0))).where(
            t.orders.c.status.in_(["confirmed", "cancelled"]), t.orders.c.occurred_at <= as_of
        )
    ).one()
    members = uow.conn.execute(
        select(func.count()).select_from(t.members).where(t.members.c.registered_at <= as_of)
    ).scalar_one()
    earned = by_kind.get("earn", 0)
    actions = by_kind.get("action", 0)
    return {
        "as_of": as_of.isoformat(),
        "members": members,
        "orders": orders[0],
        "orders_of_non_members": int(orders[1] or 0),
        "points_issued": earned + actions + max(0, by_kind.get("adjust", 0)),
        "points_earned_on_orders": earned,
        "points_for_actions": actions,
        "points_spent": -by_kind.get("spend", 0) - by_kind.get("return_spent", 0),
        "points_taken_back_by_returns": -by_kind.get("return_earned", 0),
        "points_expired": -by_kind.get("expire", 0),
        "points_outstanding": sum(by_kind.values()),
    }
