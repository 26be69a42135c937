"""Recently viewed products: the shop reports what a member looked at; buying it within the program's window
earns the rules with `viewed_within_days`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from loyalty.core import limits
from loyalty.core.errors import InvalidInput
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def record_view(uow: UnitOfWork, member_id: int, sku: str, viewed_at: datetime) -> dict[str, Any]:
    """Remember the member's latest view of `sku` (an earlier, late-arriving view never replaces a later one)."""
    sku = sku.strip()
    if not sku or len(sku) > limits.SKU:
        raise InvalidInput.at("sku", f"is required, at most {limits.SKU} characters")
    table = t.viewed_products
    current = uow.conn.execute(
        select(table.c.viewed_at).where(table.c.account_id == member_id, table.c.sku == sku)
    ).scalar()
    if current is None:
        uow.conn.execute(table.insert().values(account_id=member_id, sku=sku, viewed_at=viewed_at))
    elif viewed_at > current:
        uow.conn.execute(
            table.update().where(table.c.account_id == member_id, table.c.sku == sku).values(viewed_at=viewed_at)
        )
    latest = max(viewed_at, current) if current is not None else viewed_at
    return {"member_id": member_id, "sku": sku, "viewed_at": latest.isoformat()}


def viewed(uow: UnitOfWork, member_id: int, skus: set[str]) -> dict[str, datetime]:
    """When the member last viewed each of `skus` they viewed at all."""
    if not skus:
        return {}
    table = t.viewed_products
    rows = uow.conn.execute(
        select(table.c.sku, table.c.viewed_at).where(table.c.account_id == member_id, table.c.sku.in_(sorted(skus)))
    )
    return {row.sku: row.viewed_at for row in rows}
