"""`loyalty generate`: files that are the same for the same seed, that the real importers take, after which the
ledger audit is clean; bad options refused by name."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from loyalty.cli.main import app
from tests.cli.test_cli import count, loyalty, published  # noqa: F401 (published: the fixture)

runner = CliRunner()
FILES = ("stores.csv", "members.csv", "orders.csv")


def generate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["generate", *args])
    return result.exit_code, result.output


def read(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_others(tmp_path: Path) -> None:
    common = ("--members", "80", "--orders", "500", "--start", "2024-03-01", "--months", "4")
    for folder, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        code, output = generate(*common, "--seed", seed, "--out", str(tmp_path / folder))
        assert code == 0, output
        assert "80 members, 500 orders" in output
        assert "orders/s" in output
        assert "from 2024-03-01 to 2024-07-01" in output
    a, b, c = read(tmp_path / "a"), read(tmp_path / "b"), read(tmp_path / "c")
    assert sorted(a) == sorted(FILES)
    assert a == b
    assert a["members.csv"] != c["members.csv"] and a["orders.csv"] != c["orders.csv"]

    for folder in ("z1", "z2"):
        code, output = generate(*common, "--seed", "5", "--gzip", "--out", str(tmp_path / folder))
        assert code == 0, output
    z1, z2 = read(tmp_path / "z1"), read(tmp_path / "z2")
    assert sorted(z1) == sorted(name + ".gz" for name in FILES)
    assert z1 == z2
    assert {name: gzip.decompress(z1[name + ".gz"]) for name in FILES} == a


def test_generated_files_import_cleanly_and_the_audit_is_clean(published: str, tmp_path: Path) -> None:  # noqa: F811
    code, output = generate(
        "--members", "40", "--orders", "150", "--seed", "3", "--start", "2024-01-01", "--months", "2",
        "--stores", "4", "--cities", "2", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, output
    code, output = loyalty("members", "import", str(tmp_path / "members.csv"), database=published)
    assert code == 0, output
    assert "40 created" in output
    code, output = loyalty("orders", "import", str(tmp_path / "orders.csv"), database=published)
    assert code == 0, output
    assert "150 imported" in output
    assert count(published, "members") == 40
    assert count(published, "orders") == 150
    code, output = loyalty("audit", database=published)
    assert code == 0, output
    assert "Ledger OK" in output
    code, output = loyalty("orders", "import", str(tmp_path / "orders.csv"), database=published)
    assert code == 0, output
    assert "0 imported, 150 already there" in output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--members", "-1"), "--members: must be between 1 and 10,000,000"),
        (("--orders", "100000001"), "--orders: must be between 0 and 100,000,000"),
        (("--non-member-share", "1"), "--non-member-share: must be at least 0 and less than 1"),
        (("--stores", "3", "--cities", "4"), "--cities: must be at most the number of stores"),
        (("--months", "0"), "--months"),
        (("--start", "1 March"), "--start"),
        (("--start", "1900-01-01"), "--start: must be between 1970-01-01 and 2999-12-31"),
    ],
)
def test_bad_options_are_refused_by_name_and_write_nothing(tmp_path: Path, args: tuple[str, ...], named: str) -> None:
    defaults = {"--members": "10", "--orders": "10", "--start": "2024-01-01"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    code, output = generate(
        *[x for k, v in {**defaults, **given}.items() for x in (k, v)], "--out", str(tmp_path / "x")
    )
    assert code == 2, output
    assert named in " ".join(output.split())
    assert not (tmp_path / "x").exists()


def test_the_default_start_is_the_first_of_the_month_a_year_ago(tmp_path: Path) -> None:
    with time_machine.travel(datetime(2027, 1, 20, 9, tzinfo=UTC), tick=False):
        code, output = generate("--members", "5", "--orders", "20", "--out", str(tmp_path))
    assert code == 0, output
    assert "from 2026-01-01 to 2027-01-01" in output
