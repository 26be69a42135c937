"""return ids are unique per order

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The key (order_key, return_key) leads with the order, so it also serves the lookups by order that the index
    # on order_key served.
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_returns_order_key"))
        batch_op.drop_constraint("pk_returns", type_="primary")
        batch_op.create_primary_key("pk_returns", ["order_key", "return_key"])


def downgrade() -> None:
    # Fails, changing nothing, when two orders have come to share a return id since the upgrade.
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_constraint("pk_returns", type_="primary")
        batch_op.create_primary_key("pk_returns", ["return_key"])
        batch_op.create_index(batch_op.f("ix_returns_order_key"), ["order_key"], unique=False)
