"""`loyalty segments …`: static lists from a CSV (all or nothing), the recompute job as of a date, the list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from loyalty.cli.main import app
from loyalty.segments import service as segments
from loyalty.storage.database import UnitOfWork, make_engine

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "src" / "loyalty" / "demo" / "program.yaml"
MEMBERS = """external_id,name,phone,email,registered_at
m1,Anna,8 912 345-67-89,anna@example.com,2026-01-10T10:00:00+03:00
m2,Boris,+7 913 000-00-01,,2026-01-11T10:00:00+03:00
"""
ORDERS = """order_id,member_external_id,occurred_at,line_id,sku,category,quantity,price
o1,m1,2026-02-01T12:00:00+03:00,1,coat,clothes,1,800.00
o2,m2,2026-03-01T12:00:00+03:00,1,coat,clothes,1,5000.00
"""
runner = CliRunner()


def loyalty(*args: str, database: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database", database])
    return result.exit_code, result.output


def test_static_lists_the_job_and_the_list(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "members.csv").write_text(MEMBERS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    for args in (
        ("program", "publish", str(PROGRAM), "--effective-from", "2026-01-01"),
        ("members", "import", str(tmp_path / "members.csv")),
        ("orders", "import", str(tmp_path / "orders.csv")),
    ):
        code, output = loyalty(*args, database=database_url)
        assert code == 0, output

    bad = tmp_path / "bad.csv"
    bad.write_text("phone,external_id\n+79123456789,\n,m9\n+7 000,\n,\n")
    code, output = loyalty("segments", "import-static", "vip", str(bad), database=database_url)
    assert code == 2
    assert "line 5: must name the member in exactly one column" in output
    bad.write_text("phone,external_id\n+79123456789,\n,m9\n+7 000,\n")
    code, output = loyalty("segments", "import-static", "vip", str(bad), database=database_url)
    assert code == 2
    assert "line 3.external_id: no member with external_id m9" in output
    assert "line 4.phone" in output

    good = tmp_path / "vip.csv"
    good.write_text("phone,external_id\n8 912 345-67-89,\n,m2\n")
    code, output = loyalty("segments", "import-static", "vip", str(good), "--name", "VIP", database=database_url)
    assert code == 0, output
    assert "Segment vip (VIP): 2 members" in output

    engine = make_engine(database_url)
    with UnitOfWork(engine) as uow:
        conditions = [{"days_since_last_purchase": {"min": 100}}]
        segments.create(
            uow, {"segment_id": "lapsed", "name": "Lapsed", "conditions": conditions}, datetime(2026, 6, 1, tzinfo=UTC)
        )
        uow.commit()
    code, output = loyalty("segments", "recompute", "--as-of", "2026-06-01", database=database_url)
    assert code == 0, output
    assert "1 recomputed, 1 memberships" in output  # Anna's last order was 120 days before, Boris's 92
    code, output = loyalty("segments", "list", database=database_url)
    listed = {s["segment_id"]: s for s in json.loads(output)}
    assert (listed["lapsed"]["member_count"], listed["vip"]["member_count"]) == (1, 2)
    assert listed["lapsed"]["computed_at"] == "2026-06-01T20:59:59.999999+00:00"  # the day ends in Moscow
    engine.dispose()
