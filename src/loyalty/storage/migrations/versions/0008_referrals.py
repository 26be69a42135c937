"""referral codes and referrals

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:00:00

Every member gets a referral code. Members registered before this revision get theirs here, generated in Python
(random codes are awkward in SQL on both databases) and unique by construction; later members get one at
registration. The generator is copied here rather than imported, so this revision stays what it was.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

import loyalty.storage.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or typed from a receipt
_LENGTH = 8
_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referral_code", sa.String(length=16), nullable=True))
    _fill_codes()
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_referral_code", ["referral_code"], unique=True)
    op.create_table(
        "referrals",
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.Column("referrer_id", ID, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("program_version", sa.Integer(), nullable=False),
        sa.Column("created_at", loyalty.storage.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", loyalty.storage.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order_key", sa.String(length=100), nullable=True),
        sa.Column("new_member_points", sa.BigInteger(), nullable=False),
        sa.Column("referrer_points", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_referrer_id_status", ["referrer_id", "status"], unique=False)
        batch_op.create_index("ix_referrals_status", ["status"], unique=False)


def _fill_codes() -> None:
    """A distinct random code for every existing member, written in batches."""
    conn = op.get_bind()
    members = sa.table("members", sa.column("member_id", ID), sa.column("referral_code", sa.String(16)))
    member_ids = conn.execute(sa.select(members.c.member_id).order_by(members.c.member_id)).scalars().all()
    used: set[str] = set()
    set_code = (
        sa.update(members).where(members.c.member_id == sa.bindparam("m")).values(referral_code=sa.bindparam("c"))
    )
    for start in range(0, len(member_ids), _BATCH):
        rows = []
        for member_id in member_ids[start : start + _BATCH]:
            code = _new_code()
            while code in used:
                code = _new_code()
            used.add(code)
            rows.append({"m": member_id, "c": code})
        conn.execute(set_code, rows)


def _new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_status")
        batch_op.drop_index("ix_referrals_referrer_id_status")
    op.drop_table("referrals")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_referral_code")
    # ALTER TABLE ... DROP COLUMN directly (SQLite 3.35+): a batch copy of `members` would have to drop the table
    # its identifiers and consents refer to.
    op.drop_column("members", "referral_code")
