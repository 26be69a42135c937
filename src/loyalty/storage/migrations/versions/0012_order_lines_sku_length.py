"""order_lines.sku as long as the API accepts

The API and viewed_products take a SKU of up to 200 characters, but order_lines kept 100: on PostgreSQL a longer
SKU could not be stored. Widening a varchar does not rewrite the table on PostgreSQL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("sku", existing_type=sa.String(100), type_=sa.String(200), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("sku", existing_type=sa.String(200), type_=sa.String(100), existing_nullable=False)
