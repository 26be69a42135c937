"""`loyalty cohorts`, `liability`, `journal` and `charts` over the accounting history: what they print is the use
cases' report (JSON), its CSV and a table, and a period that ends before it starts exits 2 naming the option."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from loyalty.analytics import cohorts, journal, liability
from loyalty.storage.database import UnitOfWork, make_engine
from tests.analytics import accounting_history as h
from tests.cli.test_cli import loyalty
from tests.usecases import read

PERIOD = ("--from", "2026-09-01", "--to", "2026-12-02")
START, END = datetime(2026, 9, 1, tzinfo=h.MOSCOW), datetime(2026, 12, 2, tzinfo=h.MOSCOW)


@pytest.fixture
def history(database_url: str) -> str:
    engine = make_engine(database_url)
    h.build(engine)
    engine.dispose()
    return database_url


def use_case(database: str, query: Callable[[UnitOfWork], dict[str, Any]]) -> dict[str, Any]:
    engine = make_engine(database)
    try:
        return read(engine, query)
    finally:
        engine.dispose()


def test_journal_as_json_csv_and_a_table(history: str) -> None:
    report = use_case(history, lambda uow: journal.journal(uow, START, END))
    code, output = loyalty("journal", *PERIOD, "--format", "json", database=history)
    assert code == 0, output
    assert json.loads(output) == report
    code, output = loyalty("journal", *PERIOD, "--format", "csv", database=history)
    assert code == 0, output
    rows = list(csv.reader(io.StringIO(output)))
    assert tuple(rows[0]) == journal.CSV_COLUMNS
    assert rows[1:] == journal.csv_rows(report)
    code, output = loyalty("journal", *PERIOD, database=history)
    assert code == 0, output
    assert "reversed_redemption" in output
    assert "Closing: 0 points, 0.00 RUB" in output


def test_cohorts_and_liability(history: str) -> None:
    code, output = loyalty("cohorts", *PERIOD, "--format", "json", database=history)
    assert code == 0, output
    assert json.loads(output) == use_case(history, lambda uow: cohorts.cohorts(uow, START, END))
    code, output = loyalty("cohorts", *PERIOD, database=history)
    assert code == 0, output
    assert "Retention" in output
    assert "1.0000" in output
    code, output = loyalty("cohorts", *PERIOD, "--format", "csv", database=history)
    assert output.splitlines()[1] == "2026-09,2,2026-09,2,1.0000"

    as_of = datetime(2026, 11, 1, 23, 59, 59, 999999, tzinfo=h.MOSCOW)  # a bare date: the end of that day
    code, output = loyalty("liability", "--as-of", "2026-11-01", "--format", "json", database=history)
    assert code == 0, output
    report = json.loads(output)
    assert report == use_case(history, lambda uow: liability.liability(uow, as_of))
    code, output = loyalty("liability", "--as-of", "2026-11-01", database=history)
    assert code == 0, output
    assert "expected breakage (rate 0.8438)" in output
    assert report["liability_money"] in output
    code, output = loyalty("liability", "--as-of", "2026-11-01", "--format", "csv", database=history)
    assert code == 0, output
    lots = list(csv.DictReader(io.StringIO(output)))
    assert sum(int(row["held"]) for row in lots) == report["points_in_lots"]


def test_charts_are_written_to_the_directory(history: str, tmp_path: Path) -> None:
    code, output = loyalty("charts", *PERIOD, "--out", str(tmp_path / "charts"), database=history)
    assert code == 0, output
    written = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert "engagement.svg" in written
    assert "cohort_retention.png" in written
    assert all(name in output.replace("\n", "") for name in written)


@pytest.mark.parametrize("command", ["cohorts", "journal", "charts"])
def test_a_period_that_ends_before_it_starts_exits_2(history: str, command: str, tmp_path: Path) -> None:
    extra = ("--out", str(tmp_path)) if command == "charts" else ()
    code, output = loyalty(command, "--from", "2026-11-01", "--to", "2026-10-01", *extra, database=history)
    assert code == 2
    assert "to: must be after from" in output
    code, output = loyalty(command, "--from", "1 October", "--to", "2026-10-01", *extra, database=history)
    assert code == 2
    assert "--from" in output


@pytest.mark.parametrize(
    "command",
    [
        "loyalty journal --from 2026-10-15 --to 2026-10-27 --format csv",
        "loyalty cohorts --from 2026-09-01 --to 2026-11-01 --format csv",
        "loyalty liability --as-of 2026-10-31",
    ],
)
def test_the_readme_examples_are_what_the_commands_print_for_this_history(history: str, command: str) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    shown = readme.split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    code, output = loyalty(*command.split()[1:], database=history)
    assert code == 0, output
    if "csv" in command:
        assert output == shown
    else:  # a table: its rows, whatever the terminal's width
        rows = [line.strip("│ ") for line in shown.splitlines() if line.startswith("│")]
        assert rows
        assert all(" ".join(row.split()) in " ".join(output.split()) for row in rows)
