"""The worker, on both databases: each scheduled slot run once however many workers run, every run recorded, a
killed worker's run taken over, and the outbox delivered on the same pass."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from random import Random

import httpx
import pytest
from sqlalchemy import Engine

from loyalty.jobs import runs, schedule
from loyalty.jobs.registry import JOBS
from loyalty.jobs.worker import Worker
from loyalty.messaging import webhooks
from tests.messaging.receiver import Receiver, receiver
from tests.usecases import NOW, read, register, run

# 12:00 UTC is 15:00 in Moscow, the seed program's zone: every daily slot of the default schedule has passed today.


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def worker(engine: Engine, clock: Clock, client: httpx.Client, name: str = "w1") -> Worker:
    return Worker(engine, clock, name=name, client=client, rng=Random(3))


def recorded(engine: Engine, **filters: str) -> list[dict[str, object]]:
    return read(engine, lambda uow: runs.runs(uow, **filters))  # type: ignore[arg-type]


def test_a_pass_runs_every_job_at_its_latest_slot_once(seeded: Engine, clock: Clock, client: httpx.Client) -> None:
    first = worker(seeded, clock, client).tick()
    assert sorted(j["job"] for j in first.jobs) == sorted(JOBS)
    assert all(j["ok"] for j in first.jobs), first.jobs
    again = worker(seeded, clock, client).tick()
    assert again.jobs == []

    done = recorded(seeded)
    assert len(done) == len(JOBS)
    expire = next(r for r in done if r["job"] == "expire")
    # daily 00:10 in Moscow is 21:10 UTC the day before
    assert expire["as_of"] == datetime(2026, 10, 31, 21, 10, tzinfo=UTC).isoformat()
    assert (expire["trigger"], expire["status"], expire["worker"]) == ("schedule", "succeeded", "w1")
    assert expire["counts"] == {"accounts": 0, "points": 0}


def test_the_next_slot_runs_when_its_time_comes(seeded: Engine, clock: Clock, client: httpx.Client) -> None:
    worker(seeded, clock, client).tick()
    clock.at = NOW + timedelta(minutes=14)  # activate runs every 15 minutes: 12:15 is not yet
    assert worker(seeded, clock, client).tick().jobs == []
    clock.at = NOW + timedelta(minutes=15)
    assert [j["job"] for j in worker(seeded, clock, client).tick().jobs] == ["activate"]


def test_two_workers_run_each_slot_once(seeded: Engine, clock: Clock) -> None:
    done: list[list[str]] = []

    def work(name: str) -> None:
        with httpx.Client() as own:
            done.append([j["job"] for j in worker(seeded, clock, own, name).tick().jobs])

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(job for jobs in done for job in jobs) == sorted(JOBS)
    assert len(recorded(seeded)) == len(JOBS)


def test_a_job_switched_off_does_not_run(seeded: Engine, clock: Clock, client: httpx.Client) -> None:
    run(seeded, lambda uow: runs.set_schedule(uow, {"tiers": "off", "expire": "daily 13:00"}))
    ran = {j["job"]: j["as_of"] for j in worker(seeded, clock, client).tick().jobs}
    assert "tiers" not in ran
    # 13:00 Moscow is 10:00 UTC
    assert ran["expire"] == datetime(2026, 11, 1, 10, 0, tzinfo=UTC).isoformat()
    assert read(seeded, runs.read_schedule)["tiers"] == "off"


def test_a_killed_workers_run_is_taken_over_after_its_claim_lapses(
    seeded: Engine, clock: Clock, client: httpx.Client
) -> None:
    slot = schedule.latest(schedule.Daily(time(3, 0)), UTC, NOW)
    lost = runs.start(seeded, "tiers", slot, "schedule", "killed", NOW, slot=slot)  # and then it died
    assert lost is not None
    clock.at = NOW + runs.LEASE - timedelta(seconds=1)
    assert "tiers" not in [j["job"] for j in worker(seeded, clock, client).tick().jobs]
    clock.at = NOW + runs.LEASE + timedelta(seconds=1)
    taken = [j for j in worker(seeded, clock, client, "rescuer").tick().jobs if j.get("taken_over")]
    assert [(j["run_id"], j["job"], j["ok"]) for j in taken] == [(lost, "tiers", True)]
    after = read(seeded, lambda uow: runs.get_run(uow, lost))
    assert (after["status"], after["worker"], after["attempts"]) == ("succeeded", "rescuer", 2)


def test_missed_birthdays_are_caught_up_day_by_day(seeded: Engine, clock: Clock, client: httpx.Client) -> None:
    worker(seeded, clock, client).tick()
    clock.at = NOW + timedelta(days=3)
    birthdays = [j["as_of"] for j in worker(seeded, clock, client).tick().jobs if j["job"] == "birthdays"]
    assert len(birthdays) == 3  # the 2nd, 3rd and 4th of November, 09:00 Moscow


def test_a_pass_delivers_what_the_outbox_holds(seeded: Engine, clock: Clock, client: httpx.Client) -> None:
    hook: Receiver
    with receiver() as hook:
        data = webhooks.EndpointInput(url=hook.url, kinds=["member.registered"])
        run(seeded, lambda uow: webhooks.create(uow, "crm", data, NOW))
        member_id = register(seeded)
        done = worker(seeded, clock, client).tick()
    assert done.delivered["delivered"] == 1
    (welcome,) = hook.requests
    assert json.loads(welcome.body)["data"]["member_id"] == member_id


def test_without_a_program_no_job_runs(engine: Engine, clock: Clock, client: httpx.Client) -> None:
    assert worker(engine, clock, client).tick().jobs == []
    assert recorded(engine) == []


def test_a_job_run_by_hand_is_recorded(seeded: Engine) -> None:
    counts = runs.run_now(seeded, "expire", NOW, lambda: NOW, "cli")
    (only,) = recorded(seeded)
    assert (only["job"], only["trigger"], only["status"], only["counts"]) == ("expire", "cli", "succeeded", counts)
    assert only["worker"] is None
