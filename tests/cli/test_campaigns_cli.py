"""`loyalty campaigns apply|list`: a file of campaigns and offers applied all or nothing, again without change."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from loyalty.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def loyalty(*args: str, database: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database", database])
    return result.exit_code, result.output


def test_a_file_is_applied_all_or_nothing_and_again_without_change(database_url: str, tmp_path: Path) -> None:
    code, output = loyalty(
        "program",
        "publish",
        str(ROOT / "examples" / "program.yaml"),
        "--effective-from",
        "2026-01-01",
        database=database_url,
    )
    assert code == 0, output
    example = (ROOT / "examples" / "campaigns.yaml").read_text(encoding="utf-8")

    # The offer's segment does not exist yet: nothing at all is stored, and the file's place is named.
    code, output = loyalty("campaigns", "apply", str(ROOT / "examples" / "campaigns.yaml"), database=database_url)
    assert code == 2
    assert "offers[0].audience.segments[0]: unknown segment 'check-800'" in " ".join(output.split())
    code, output = loyalty("campaigns", "list", database=database_url)
    assert json.loads(output) == []

    without_offers = tmp_path / "campaigns.yaml"
    without_offers.write_text(example.split("offers:")[0], encoding="utf-8")
    code, output = loyalty("campaigns", "apply", str(without_offers), database=database_url)
    assert code == 0, output
    assert "created: campaign:coffee-x2-november, campaign:morning-coffee" in output
    code, output = loyalty("campaigns", "apply", str(without_offers), database=database_url)
    assert "unchanged: campaign:coffee-x2-november, campaign:morning-coffee" in output

    without_offers.write_text(example.split("offers:")[0].replace("multiplier: 2", "multiplier: 3"), encoding="utf-8")
    code, output = loyalty("campaigns", "apply", str(without_offers), database=database_url)
    assert "changed: campaign:coffee-x2-november" in output
    code, output = loyalty("campaigns", "list", database=database_url)
    listed = {c["id"]: c["revision"] for c in json.loads(output)}
    assert listed == {"coffee-x2-november": 2, "morning-coffee": 1}

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "campaigns:\n  - id: x\n    name: X\n    starts_at: 2026-11-02\n    ends_at: 2026-11-01\n"
        "    earning: {percent: 5}\n    budget_points: -5\n",
        encoding="utf-8",
    )
    code, output = loyalty("campaigns", "apply", str(bad), database=database_url)
    assert code == 2
    flat = " ".join(output.split())
    assert "campaigns[0].ends_at: must be after starts_at" in flat
    assert "campaigns[0].budget_points: must be at least 0" in flat
