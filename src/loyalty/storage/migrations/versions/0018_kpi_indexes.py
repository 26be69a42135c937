"""indexes for the KPIs of a period: ledger entries and orders by when they occurred

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On PostgreSQL the entry columns the KPIs sum and group by ride in the index (index-only scans of a period);
    # SQLite has no INCLUDE and gets the plain index.
    op.create_index(
        "ix_ledger_entries_occurred_at",
        "ledger_entries",
        ["occurred_at"],
        postgresql_include=["kind", "points", "program_version", "account_id"],
    )
    op.create_index("ix_orders_occurred_at", "orders", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_occurred_at", table_name="orders")
    op.drop_index("ix_ledger_entries_occurred_at", table_name="ledger_entries")
