"""job runs: what the worker's scheduler and operators ran, as of when, and how it went

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.storage.tables import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("run_id", ID, autoincrement=True, nullable=False),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("as_of", UTCDateTime, nullable=False),
        sa.Column("slot", sa.String(80)),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(100)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("claimed_until", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("counts", sa.JSON),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("run_id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_slot", "job_runs", ["slot"], unique=True)
    op.create_index("ix_job_runs_job_started_at", "job_runs", ["job", "started_at"])


def downgrade() -> None:
    op.drop_table("job_runs")
