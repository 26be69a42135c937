"""lots max_share

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import loyalty.storage.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_share", loyalty.storage.tables.Share(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_column("max_share")
