"""return ids as long as a cancel's

A cancel is recorded as a return whose id is the order id and "#cancel": with an order id of the longest allowed
length (100) it did not fit the 100-character columns on PostgreSQL, and cancelling such an order failed.
Widening a varchar does not rewrite the table on PostgreSQL.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = (("returns", False), ("ledger_entries", True))


def upgrade() -> None:
    for table, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "return_key", existing_type=sa.String(100), type_=sa.String(107), existing_nullable=nullable
            )


def downgrade() -> None:
    for table, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "return_key", existing_type=sa.String(107), type_=sa.String(100), existing_nullable=nullable
            )
