"""message templates and triggers; an index for frequency caps

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.storage.tables import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("template_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("wordings", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("template_id", name="pk_message_templates"),
    )
    op.create_table(
        "message_triggers",
        sa.Column("trigger_id", sa.String(64), nullable=False),
        sa.Column("event_kind", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("template_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("conditions", sa.JSON, nullable=False),
        sa.Column("delay_minutes", sa.Integer, nullable=False),
        sa.Column("before_expiry_days", sa.Integer),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["message_templates.template_id"],
            name="fk_message_triggers_template_id_message_templates",
        ),
        sa.PrimaryKeyConstraint("trigger_id", name="pk_message_triggers"),
    )
    op.create_index("ix_message_triggers_event_kind", "message_triggers", ["event_kind"])
    op.create_index(
        "ix_deliveries_account_id_channel_delivered_at", "deliveries", ["account_id", "channel", "delivered_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_account_id_channel_delivered_at", "deliveries")
    op.drop_table("message_triggers")
    op.drop_table("message_templates")
