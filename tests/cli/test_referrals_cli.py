"""`loyalty jobs run referrals`: the operator's way to reward referrers, as of a date, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.cli.main import app
from loyalty.members import service as members
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine

runner = CliRunner()
PROGRAM = """
name: Referrals
earning: {pending_days: 14, rules: [{id: base, percent: 5}]}
referrals: {new_member_points: 300, referrer_points: 700, return_window_days: 14}
"""
BOUGHT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_the_job_rewards_the_referrer_once_the_window_has_passed(database_url: str, tmp_path: Path) -> None:
    document = tmp_path / "program.yaml"
    document.write_text(PROGRAM)
    published = runner.invoke(
        app, ["program", "publish", str(document), "--effective-from", "2026-01-01", "--database", database_url]
    )
    assert published.exit_code == 0, published.output
    engine = make_engine(database_url)
    try:
        with UnitOfWork(engine) as uow:
            referrer = members.register(uow, members.parse_member({"phone": "+79120000001"}), BOUGHT)
            code = members.profile(uow, referrer)["referral_code"]
            referee = members.register(
                uow, members.parse_member({"phone": "+79120000002", "referral_code": code}), BOUGHT
            )
            body = {
                "order_id": "C-1",
                "member": {"member_id": referee},
                "lines": [{"sku": "coat", "price": "10000"}],
                "occurred_at": BOUGHT.isoformat(),
            }
            checkout.confirm(uow, parse_order(body, BOUGHT), BOUGHT)
            uow.commit()
        early = runner.invoke(app, ["jobs", "run", "referrals", "--as-of", "2026-03-14", "--database", database_url])
        assert early.exit_code == 0, early.output
        assert ": 0 rewarded" in early.output
        outputs = []
        for _ in range(2):
            done = runner.invoke(app, ["jobs", "run", "referrals", "--as-of", "2026-03-15", "--database", database_url])
            assert done.exit_code == 0, done.output
            outputs.append(done.output)
        assert ": 1 rewarded" in outputs[0]
        assert ": 0 rewarded" in outputs[1]  # the second run finds nothing left to reward
        with UnitOfWork(engine, read_only=True) as uow:
            rewarded = uow.conn.execute(
                select(func.count())
                .select_from(t.ledger_entries)
                .where(t.ledger_entries.c.account_id == referrer, t.ledger_entries.c.rule_id == "referral:referrer")
            ).scalar_one()
        assert rewarded == 1
        audit = runner.invoke(app, ["audit", "--database", database_url])
        assert audit.exit_code == 0, audit.output
    finally:
        engine.dispose()
