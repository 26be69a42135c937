"""Migration 0008 gives every member registered before it a referral code of their own, on both databases, and
can be undone."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select

from loyalty.referrals.model import CODE_ALPHABET, CODE_LENGTH
from loyalty.storage import tables as t
from loyalty.storage.database import make_engine
from loyalty.storage.migrate import alembic_config, upgrade

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_members_registered_before_the_migration_get_distinct_codes(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0007")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.members.insert(),
                [{"name": f"member {n}", "registered_at": NOW, "attributes": {}} for n in range(250)],
            )
        engine.dispose()
        upgrade(database_url)
        with engine.connect() as conn:
            codes = conn.execute(select(t.members.c.referral_code)).scalars().all()
        assert len(codes) == 250
        assert len(set(codes)) == 250
        assert all(len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET) for code in codes)
        engine.dispose()
        command.downgrade(alembic_config(database_url), "0007")
        upgrade(database_url)
    finally:
        engine.dispose()
