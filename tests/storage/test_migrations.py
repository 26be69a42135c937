"""The migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from loyalty.storage.tables import metadata


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_the_serve_check_reads_the_same_head_as_alembic() -> None:
    """`loyalty serve` finds the head by reading the migration files, not by loading Alembic: both must agree."""
    from alembic.script import ScriptDirectory

    from loyalty.storage.migrate import alembic_config, head_revisions

    assert head_revisions() == set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
