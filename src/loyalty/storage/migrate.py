"""Schema migrations (Alembic), run by `loyalty db upgrade` and by the tests."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from loyalty.storage.database import database_url, normalise_url


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "loyalty.storage:migrations")
    config.set_main_option("sqlalchemy.url", normalise_url(database_url(url)).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
