"""A SQLite database with the seed program and two registered members, for the ledger's state machines."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

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


def run_on_copies(machine: type[Any], template: Path, tmp_path: Path, run: settings) -> None:
    """Run a state machine whose class reads its database from `url`, each run on its own copy of `template`."""
    runs = itertools.count()

    class OnACopy(machine):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            path = tmp_path / f"run-{next(runs)}.db"
            shutil.copy(template, path)
            type(self).url = f"sqlite:///{path}"
            super().__init__()

    run_state_machine_as_test(OnACopy, settings=run)
