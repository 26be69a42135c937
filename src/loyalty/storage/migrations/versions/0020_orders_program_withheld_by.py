"""orders.program_withheld_by: the experiment that held a confirmed order out of the program

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty.storage.tables import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_experiments = sa.table(
    "experiments",
    sa.column("experiment_id", sa.String),
    sa.column("withholds", sa.String),
    sa.column("starts_at", UTCDateTime),
    sa.column("ends_at", UTCDateTime),
)
_orders = sa.table(
    "orders",
    sa.column("order_key", sa.String),
    sa.column("account_id", sa.BigInteger),
    sa.column("occurred_at", UTCDateTime),
    sa.column("points_applied", sa.BigInteger),
    sa.column("points_earned", sa.BigInteger),
    sa.column("result", sa.JSON),
    sa.column("program_withheld_by", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("program_withheld_by", sa.String(length=64), nullable=True))
    # Orders confirmed in a control group before this column existed: their stored result says so, its one reason
    # given by the experiment (checkout.holdouts). Only members' orders that paid and earned nothing, within the
    # period of an experiment withholding the program, can be such orders: those are read, no others.
    conn = op.get_bind()
    o = _orders.c
    for experiment_id, starts_at, ends_at in conn.execute(
        sa.select(_experiments.c.experiment_id, _experiments.c.starts_at, _experiments.c.ends_at).where(
            _experiments.c.withholds == "program"
        )
    ):
        source = f"experiment:{experiment_id}"
        candidates = conn.execute(
            sa.select(o.order_key, o.result).where(
                o.account_id.is_not(None),
                o.occurred_at >= starts_at,
                o.occurred_at < ends_at,
                o.points_applied == 0,
                o.points_earned == 0,
                o.program_withheld_by.is_(None),
            )
        ).all()
        held = [
            {"key": key}
            for key, result in candidates
            if [r.get("source") for r in (result or {}).get("explanation", [])] == [source]
        ]
        if held:
            conn.execute(
                _orders.update().where(o.order_key == sa.bindparam("key")).values(program_withheld_by=experiment_id),
                held,
            )


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35 and later) drops a column in place, where a batch would copy `orders`, which
    # the order lines' foreign key forbids.
    op.drop_column("orders", "program_withheld_by")
