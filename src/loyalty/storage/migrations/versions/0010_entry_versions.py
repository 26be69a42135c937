"""adjust and expire entries name their program version

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00

Adjustments and expiries were recorded without the program version; they now record the version in force at their
instant. This fills it in for the entries (and adjustment lots) written before, so every entry names one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The version in force at an instant: the latest to take effect at or before it (as services.programs reads it).
    op.execute(
        sa.text(
            "UPDATE ledger_entries SET program_version = ("
            " SELECT v.number FROM program_versions v WHERE v.effective_from <= ledger_entries.occurred_at"
            " ORDER BY v.effective_from DESC, v.number DESC LIMIT 1)"
            " WHERE program_version IS NULL AND kind IN ('adjust', 'expire')"
        )
    )
    op.execute(
        sa.text(
            "UPDATE lots SET program_version = ("
            " SELECT e.program_version FROM ledger_entries e"
            " WHERE e.account_id = lots.account_id AND e.entry_no = lots.entry_no)"
            " WHERE program_version IS NULL"
        )
    )


def downgrade() -> None:
    # The versions filled in are true of those entries; nothing to undo.
    pass
