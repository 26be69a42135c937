"""`loyalty program validate` and `publish` read a document once and within bounds: nesting deeper than the
documented limit, a key given twice, a file or a string too large, and aliases that multiply a list are refused
with the reason (exit code 2) instead of crashing or working for seconds, and nothing is published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from loyalty.cli.main import app
from loyalty.core import limits
from loyalty.storage.database import normalise_url

runner = CliRunner()
GOOD = "name: Bounded\ncurrency: RUB\nearning:\n  rules:\n    - id: base\n      percent: 5\n"


def count(database: str, table: str) -> int:
    engine = create_engine(normalise_url(database))
    with engine.connect() as conn:
        value = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(value)


def refused(tmp_path: Path, name: str, text: str, *reasons: str, database: str | None = None) -> None:
    """Both commands refuse the document, each reason among what they print, and publish nothing."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    commands = [["program", "validate", str(path)]]
    if database is not None:
        commands.append(["program", "publish", str(path), "--database", database])
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output, result.exception)
        output = " ".join(result.output.split())  # rich wraps long lines
        for reason in reasons:
            assert reason in output, (command, output[:2000])
    if database is not None:
        assert count(database, "program_versions") == 0


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path, database_url: str) -> None:
    deep = "[" * 600 + "]" * 600
    too_deep = f"nests more than {limits.MAX_DEPTH} levels"
    refused(tmp_path, "deep.yaml", GOOD + f"actions: {deep}\n", too_deep, database=database_url)
    as_json = json.dumps({"name": "Bounded", "actions": "X"}).replace('"X"', deep)
    refused(tmp_path, "deep.json", as_json, too_deep, database=database_url)
    # Block style nests by indentation, each level a mapping.
    block = "name: Bounded\n" + "".join(f"{'  ' * level}k{level}:\n" for level in range(40)) + "  " * 40 + "v: 1\n"
    refused(tmp_path, "deep-block.yaml", block, too_deep)
    # At the bound the document is read, and the program's own validation answers.
    shallow = GOOD + "actions: " + "[" * (limits.MAX_DEPTH - 1) + "]" * (limits.MAX_DEPTH - 1) + "\n"
    refused(tmp_path, "shallow.yaml", shallow, "actions: must be a mapping")


def test_a_key_given_twice_is_refused_naming_its_path(tmp_path: Path, database_url: str) -> None:
    twice = GOOD + "      percent: 50\nname: Other\n"
    refused(
        tmp_path,
        "twice.yaml",
        twice,
        "earning.rules[0].percent: is given more than once (again at line 7)",
        "name: is given more than once (again at line 8)",
        database=database_url,
    )
    as_json = '{"name": "Bounded", "earning": {"rules": [{"id": "base", "percent": 5, "id": "other"}]}}'
    refused(tmp_path, "twice.json", as_json, "earning.rules[0].id: is given more than once", database=database_url)
    # A merge key brings another mapping's keys in; the mapping's own keys may override them.
    merged = "base: &rule {id: base, percent: 5}\n" + GOOD.replace(
        "    - id: base\n      percent: 5\n", "    - <<: *rule\n      percent: 7\n"
    )
    result = runner.invoke(app, ["program", "validate", str(_write(tmp_path / "merged.yaml", merged))])
    assert "is given more than once" not in result.output
    assert "base: unknown field" in " ".join(result.output.split())


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("size", [limits.MAX_DOCUMENT_BYTES + 1, 10 * 1024 * 1024])
def test_a_file_over_the_limit_is_refused_unread(tmp_path: Path, size: int) -> None:
    refused(
        tmp_path,
        "huge.yaml",
        "name: " + "N" * (size - len("name: ")),
        f"is larger than {limits.MAX_DOCUMENT_BYTES} bytes",
    )


def test_long_text_and_multiplying_aliases_are_refused(tmp_path: Path) -> None:
    refused(
        tmp_path,
        "long-name.yaml",
        "name: " + "N" * 500_000 + "\n",
        f"name: must be at most {limits.DOCUMENT_TEXT} characters",
    )
    refused(
        tmp_path,
        "long-rule-name.yaml",
        GOOD + "      name: " + "R" * 201 + "\n",
        "earning.rules[0].name: must be text of up to 200 characters",
    )
    # Seven lists of ten aliases each: ten million values from a file of a few hundred bytes.
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 7)]
    refused(tmp_path, "aliases.yaml", GOOD + "\n".join(lines) + "\n", "holds more than 1000000 values")
