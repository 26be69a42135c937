"""A SQLite database with the seed program and two registered members, for the ledger's state machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty.storage.database import make_engine
from loyalty.storage.migrate import upgrade
from tests.usecases import PHONE, publish, register

PHONES = [PHONE, "+79123456780"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the seed program and two members (500 points each), copied per example."""
    path = tmp_path_factory.mktemp("ledger-machine") / "template.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    publish(engine)
    for phone in PHONES:
        register(engine, phone)
    engine.dispose()  # closing the last connection checkpoints the write-ahead log into the file
    assert not Path(f"{path}-wal").exists()
    return path
