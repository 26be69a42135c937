"""Schema migrations (Alembic), run by `loyalty db upgrade` and by the tests, and the check `loyalty serve` makes
before serving: the database's schema must be the one this code declares.

Alembic is imported only to migrate: the check reads the revisions from the migration files and the database's
version from its `alembic_version` table, so a server starts without loading Alembic and its migration scripts."""

from __future__ import annotations

import ast
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from loyalty.storage.database import database_url, make_engine, normalise_url

if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "loyalty.storage:migrations")
    config.set_main_option("sqlalchemy.url", normalise_url(database_url(url)).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


class SchemaOutdated(Exception):
    """The database's schema is not the one this code declares; the message says what to do."""


def _revisions() -> dict[str, tuple[str, ...]]:
    """Each migration's revision and the revisions it follows, read from the files without running them."""
    graph: dict[str, tuple[str, ...]] = {}
    for script in files("loyalty.storage").joinpath("migrations").joinpath("versions").iterdir():
        if not script.name.endswith(".py"):
            continue
        values: dict[str, ast.expr] = {}
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                values[node.targets[0].id] = node.value
        revision = ast.literal_eval(values["revision"])
        follows = ast.literal_eval(values["down_revision"]) if "down_revision" in values else None
        if isinstance(follows, str):
            graph[str(revision)] = (follows,)
        elif isinstance(follows, tuple | list):  # a merge of branches
            graph[str(revision)] = tuple(str(parent) for parent in follows)
        else:
            graph[str(revision)] = ()
    return graph


def head_revisions() -> set[str]:
    """The revisions no other migration follows: what `loyalty db upgrade` brings a database to."""
    graph = _revisions()
    followed = {parent for parents in graph.values() for parent in parents}
    return set(graph) - followed


def database_revisions(url: str | None = None) -> set[str]:
    """The revisions recorded in the database; empty when it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return set()
            return {str(r) for r in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()}
    finally:
        engine.dispose()


def check_current(url: str | None = None) -> None:
    """Raise SchemaOutdated unless the database is at this code's head revision(s)."""
    current, heads = database_revisions(url), head_revisions()
    if current == heads:
        return
    if not current:
        raise SchemaOutdated("the database has no schema yet: run `loyalty db upgrade` first")
    unknown = current - set(_revisions())
    if unknown:
        raise SchemaOutdated(
            f"the database's schema ({', '.join(sorted(unknown))}) is newer than this version of loyalty knows "
            f"({', '.join(sorted(heads))}): run the loyalty release that migrated it"
        )
    raise SchemaOutdated(
        f"the database's schema is outdated ({', '.join(sorted(current))}, this version needs "
        f"{', '.join(sorted(heads))}): run `loyalty db upgrade` first"
    )
