"""Alembic environment: runs the package's migrations against the configured database."""

from __future__ import annotations

from alembic import context

from loyalty.storage.database import make_engine
from loyalty.storage.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"), timeouts=False)  # a migration may take long
    with engine.connect() as conn:
        conn.info["read_only"] = False
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
