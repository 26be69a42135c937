"""`loyalty jobs list|run` read one registry (the one `POST /v1/jobs/<name>` runs), and `loyalty audit` reports each
of its named checks, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from loyalty.audit.service import CHECKS
from loyalty.cli.main import app
from loyalty.jobs.registry import JOBS
from loyalty.storage.database import make_engine
from tests.usecases import register

from .test_cli import PROGRAM, loyalty, runner


@pytest.fixture
def published(database_url: str) -> str:
    code, output = loyalty("program", "publish", str(PROGRAM), "--effective-from", "2026-01-01", database=database_url)
    assert code == 0, output
    return database_url


def test_jobs_list_names_every_job_and_what_it_does() -> None:
    result = runner.invoke(app, ["jobs", "list"])
    assert result.exit_code == 0, result.output
    listed = " ".join(result.output.split())
    for name, job in JOBS.items():
        assert f"{name} {job.does}" in listed


def test_every_job_runs_from_the_command_line_and_an_unknown_one_is_refused(published: str) -> None:
    for name in JOBS:
        code, output = loyalty("jobs", "run", name, "--as-of", "2026-11-30", database=published)
        assert code == 0, f"{name}: {output}"
        assert f"{name} as of 2026-11-30T23:59:59.999999+03:00: " in output
    code, output = loyalty("jobs", "run", "segments", "--as-of", "2026-11-30", database=published)
    assert "0 recomputed, 0 memberships, 0 changed meanwhile" in " ".join(output.split())
    code, output = loyalty("jobs", "run", "defrost", database=published)
    assert code == 2
    assert "must be one of activate, expire" in " ".join(output.split())


def test_audit_reports_each_check_by_name(published: str) -> None:
    code, output = loyalty("audit", database=published)
    assert code == 0, output
    for check in CHECKS:
        assert f"{check.name} ok" in " ".join(output.split())
    engine = make_engine(published)
    member_id = register(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = balance + 1 WHERE account_id = :a"), {"a": member_id})
    engine.dispose()
    code, output = loyalty("audit", database=published)
    flat = " ".join(output.split())
    assert code == 1, output
    assert "account-totals 2 violation(s)" in flat  # the balance against its entries, and against its lots
    assert "lot-remainders ok" in flat
    assert f"VIOLATION balance: account {member_id}:" in flat


def test_audit_list_says_what_each_check_holds() -> None:
    result = runner.invoke(app, ["audit", "--list"])
    assert result.exit_code == 0, result.output
    listed = " ".join(result.output.split())
    assert len({check.name for check in CHECKS}) == len(CHECKS)
    for check in CHECKS:
        assert f"{check.name}: {check.description}" in listed
