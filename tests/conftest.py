"""Shared fixtures: a migrated database on SQLite (always) and on PostgreSQL (when LOYALTY_TEST_DATABASE_URL is
set), a fixed clock, and helpers that build real state through the same use cases a user calls."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text

from loyalty.storage.database import make_engine, normalise_url
from loyalty.storage.migrate import upgrade
from tests.usecases import clean_audit, member, rich_member, seeded  # noqa: F401 (the use-case tests' fixtures)

PG_URL = os.environ.get("LOYALTY_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("LOYALTY_REQUIRE_POSTGRES") == "1"
SKIP_REASON = "PostgreSQL tests skipped: set LOYALTY_TEST_DATABASE_URL=postgresql://user@host/db to run them"

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# A property test states an invariant, not a speed: on a busy machine an example may take longer than Hypothesis's
# default 200 ms deadline, and a test must never fail on wall-clock time.
settings.register_profile("loyalty", deadline=None)
settings.load_profile("loyalty")


def _fresh_pg_database(template: str | None = None) -> tuple[str, str]:
    """A new database on the test server, so tests never see each other's rows: empty, or a copy of `template`."""
    assert PG_URL is not None
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"loyalty_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    base = normalise_url(PG_URL).rsplit("/", 1)[0]
    return f"{base}/{name}", name


def _drop_pg_database(name: str) -> None:
    assert PG_URL is not None
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# Every test gets a database of its own, copied from one migrated once per session: running the migrations for each
# of some 1,400 tests cost minutes of every run.


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "loyalty.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:  # everything into the main file, so a copy of it is the whole database
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    url, name = _fresh_pg_database()
    upgrade(url)
    admin = create_engine(normalise_url(PG_URL or ""), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # a template must have no other session while it is copied
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    admin.dispose()
    yield name
    _drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: SQLite in a temporary file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "loyalty.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("LOYALTY_REQUIRE_POSTGRES=1 but LOYALTY_TEST_DATABASE_URL is not set")
        pytest.skip(SKIP_REASON)
    url, name = _fresh_pg_database(template=request.getfixturevalue("_pg_template"))
    yield url
    _drop_pg_database(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def pytest_sessionfinish(session: pytest.Session) -> None:  # pluggy passes only the arguments a hook names
    """In CI every PostgreSQL test must run: a skipped one fails the session."""
    if not REQUIRE_PG:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    pg_skips = [r for r in skipped if "PostgreSQL" in str(r.longrepr)]
    if pg_skips:
        reporter.write_line(f"{len(pg_skips)} PostgreSQL tests were skipped; CI requires them", red=True)
        session.exitstatus = 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any schema, as a new installation has before `loyalty db upgrade`."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("LOYALTY_REQUIRE_POSTGRES=1 but LOYALTY_TEST_DATABASE_URL is not set")
        pytest.skip(SKIP_REASON)
    url, name = _fresh_pg_database()
    yield url
    _drop_pg_database(name)
