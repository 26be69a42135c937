"""campaigns and personal offers

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import loyalty.storage.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("starts_at", loyalty.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", loyalty.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("budget_points", sa.BigInteger(), nullable=True),
        sa.Column("budget_used", sa.BigInteger(), nullable=False),
        sa.Column("created_at", loyalty.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", loyalty.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "budget_points IS NULL OR budget_used <= budget_points", name=op.f("ck_campaigns_within_budget")
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_revisions",
        sa.Column("campaign_id", sa.String(length=48), nullable=False),
        sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("changed_at", loyalty.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.campaign_id"], name=op.f("fk_campaign_revisions_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "revision", name=op.f("pk_campaign_revisions")),
    )
    op.create_table(
        "campaign_members",
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.Column("campaign_id", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.campaign_id"], name=op.f("fk_campaign_members_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("account_id", "campaign_id", name=op.f("pk_campaign_members")),
    )
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_members_campaign_id_account_id", ["campaign_id", "account_id"], unique=False)
    op.create_table(
        "campaign_member_usage",
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.Column("campaign_id", sa.String(length=48), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.campaign_id"], name=op.f("fk_campaign_member_usage_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("account_id", "campaign_id", name=op.f("pk_campaign_member_usage")),
    )
    with op.batch_alter_table("campaign_member_usage", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_member_usage_campaign_id", ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_member_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_member_usage_campaign_id")
    op.drop_table("campaign_member_usage")
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_members_campaign_id_account_id")
    op.drop_table("campaign_members")
    op.drop_table("campaign_revisions")
    op.drop_table("campaigns")
