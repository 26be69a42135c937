"""`loyalty jobs run win-back`: the operator's way to grant win-back points, as of a date, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from loyalty.cli.main import app
from loyalty.ledger import service as ledger
from loyalty.members import service as members
from loyalty.storage.database import UnitOfWork, make_engine

runner = CliRunner()
PROGRAM = """
name: Win-back
earning: {rules: [{id: base, percent: 5}]}
win_back:
  inactive_days: 90
  points: 500
  expires_after_days: 14
  max_share_percent: 50
"""
REGISTERED = datetime(2026, 1, 10, 12, tzinfo=UTC)


def test_the_job_grants_an_inactive_member_once(database_url: str, tmp_path: Path) -> None:
    document = tmp_path / "program.yaml"
    document.write_text(PROGRAM)
    published = runner.invoke(
        app, ["program", "publish", str(document), "--effective-from", "2026-01-01", "--database", database_url]
    )
    assert published.exit_code == 0, published.output
    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine) as uow:
            member_id = members.register(uow, members.parse_member({"phone": "+79120000001"}), REGISTERED)
            uow.commit()
        early = runner.invoke(app, ["jobs", "run", "win-back", "--as-of", "2026-04-09", "--database", database_url])
        assert early.exit_code == 0, early.output
        assert "0 points to 0 members" in early.output
        outputs = []
        for _ in range(2):
            done = runner.invoke(app, ["jobs", "run", "win-back", "--as-of", "2026-04-11", "--database", database_url])
            assert done.exit_code == 0, done.output
            outputs.append(done.output)
        assert "500 points to 1 members" in outputs[0]
        assert "0 points to 0 members" in outputs[1]  # the second run finds nobody left to win back
        with UnitOfWork(engine, read_only=True) as uow:
            shown = ledger.balance(uow, member_id, datetime(2026, 4, 12, tzinfo=UTC))
        assert [(r["points"], r["max_share_percent"]) for r in shown["restricted"]] == [(500, "50")]
        audit = runner.invoke(app, ["audit", "--database", database_url])
        assert audit.exit_code == 0 and "Ledger OK" in audit.output
    finally:
        engine.dispose()
