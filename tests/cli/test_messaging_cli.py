"""The operator's commands for webhooks, the delivery log, the outbox, the worker and job runs, on both databases,
with a real receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from loyalty.storage.database import make_engine
from tests.messaging.receiver import Receiver, receiver
from tests.usecases import register

from .test_cli import PROGRAM, loyalty


@pytest.fixture
def published(database_url: str) -> str:
    code, output = loyalty("program", "publish", str(PROGRAM), "--effective-from", "2026-01-01", database=database_url)
    assert code == 0, output
    return database_url


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def test_an_operator_adds_an_endpoint_runs_the_worker_once_and_reads_the_log(published: str, hook: Receiver) -> None:
    code, output = loyalty("webhooks", "add", "crm", hook.url, "--kind", "member.registered", database=published)
    assert code == 0, output
    assert json.loads(output)["secret"].startswith("whsec_")
    code, output = loyalty("webhooks", "list", database=published)
    assert code == 0 and "crm" in output and "whsec_" not in output

    engine = make_engine(published)
    register(engine)
    engine.dispose()
    code, output = loyalty("worker", "--once", database=published)
    assert code == 0, output
    done = json.loads(output)
    assert done["deliveries"]["delivered"] == 1
    assert {job["job"] for job in done["jobs"]} >= {"expire", "activate", "birthdays"}
    assert json.loads(hook.requests[0].body)["type"] == "member.registered"

    code, output = loyalty("deliveries", "list", "--status", "delivered", database=published)
    assert code == 0 and "crm" in output
    code, output = loyalty("deliveries", "show", "1", database=published)
    assert code == 0 and json.loads(output)["log"][0]["status_code"] == 200
    code, output = loyalty("deliveries", "replay", "1", database=published)
    assert code == 0 and "will be sent again" in output
    code, output = loyalty("worker", "--once", database=published)
    assert json.loads(output)["deliveries"]["delivered"] == 1
    assert len(hook.requests) == 2

    code, output = loyalty("events", "list", "--kind", "member.registered", database=published)
    assert code == 0 and json.loads(output.splitlines()[0])["kind"] == "member.registered"

    code, output = loyalty("jobs", "runs", "--job", "expire", database=published)
    assert code == 0 and "schedule" in output and "succeeded" in output


def test_the_schedule_is_shown_and_changed_and_a_bad_one_refused(published: str) -> None:
    code, output = loyalty("jobs", "schedule", database=published)
    assert code == 0 and "expire" in output and "daily 00:10" in output
    code, output = loyalty("jobs", "schedule", "tiers", "every 6h", database=published)
    assert code == 0 and "every 6h" in output
    code, output = loyalty("jobs", "schedule", "tiers", "at noon", database=published)
    assert code == 2 and "tiers" in output and "daily HH:MM" in output


def test_a_bad_endpoint_is_refused_and_nothing_stored(published: str) -> None:
    code, output = loyalty("webhooks", "add", "crm", "ftp://crm.example.com/", database=published)
    assert code == 2 and "url" in output
    code, output = loyalty("webhooks", "add", "Not An Id", "https://crm.example.com/", database=published)
    assert code == 2
    code, output = loyalty("webhooks", "list", database=published)
    assert "crm" not in output
