"""POST /v1/analytics/simulations and `loyalty simulate` over the hand-worked history of
tests/analytics/test_simulation.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.analytics.test_simulation import DRAFT, history
from tests.api.conftest import Server
from tests.cli.test_cli import loyalty


def test_over_http_and_the_command_line(server: Server, tmp_path: Path) -> None:
    history(server.engine)
    body = {"program": DRAFT, "from": "2026-01-01", "to": "2026-04-01", "redeeming_members": "0"}
    with server.client(server.analytics) as analytics:
        response = analytics.post("/v1/analytics/simulations", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["total"]["simulated"]["points_issued"] == 350
        invalid = analytics.post("/v1/analytics/simulations", json={**body, "program": {**DRAFT, "earning": 5}})
        assert invalid.status_code == 422
        assert any(e["path"].startswith("program") or e["path"].startswith("earning") for e in invalid.json()["errors"])
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump(DRAFT))
    args = ("simulate", str(draft), "--from", "2026-01-01", "--to", "2026-04-01", "--redeeming-members", "0")
    code, output = loyalty(*args, "--format", "csv", database=server.engine.url.render_as_string(hide_password=False))
    assert code == 0, output
    lines = output.strip().splitlines()
    header = lines[0].split(",")
    total = dict(zip(header, lines[-1].split(","), strict=True))
    assert (total["month"], total["simulated_points_issued"], total["actual_points_issued"]) == ("total", "350", "175")
    database = server.engine.url.render_as_string(hide_password=False)
    code, output = loyalty(*args, "--charts", str(tmp_path / "charts"), database=database)
    assert code == 0, output
    svg = (tmp_path / "charts" / "simulation.svg").read_text()
    assert "What-if: Draft against the ledger" in svg and "2026-03" in svg
    assert (tmp_path / "charts" / "simulation.png").read_bytes().startswith(b"\x89PNG")
    code, output = loyalty(*args, "--redeeming-orders", "2", database=database)
    assert code == 2 and "--redeeming-orders" in output
