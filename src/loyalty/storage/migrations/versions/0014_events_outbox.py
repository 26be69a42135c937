"""the outbox: domain events

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.storage.tables import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", ID),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("key", sa.String(100)),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("dispatched_at", UTCDateTime),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
    )
    op.create_index("ix_events_account_id_kind_key", "events", ["account_id", "kind", "key"], unique=True)
    op.create_index("ix_events_account_id_event_id", "events", ["account_id", "event_id"])
    op.create_index(
        "ix_events_undispatched",
        "events",
        ["event_id"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("events")
