"""The worker: `loyalty worker` (or a thread of `loyalty serve` on the embedded database) runs, over and over, the
dispatcher (the outbox fanned out, due deliveries sent) and the scheduler (every job at its slots, runs whose worker
died taken over). Several workers may run at once on PostgreSQL: each slot is run by the worker that records it
first, deliveries are claimed with SKIP LOCKED, and nothing is done twice."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from random import Random
from typing import Any

import httpx
from sqlalchemy import Engine

from loyalty.jobs import runs, schedule
from loyalty.messaging import dispatch, messages
from loyalty.messaging.model import Channel
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, failure_of

log = logging.getLogger("loyalty.worker")

MAX_DELIVERY_BATCHES = 50  # per pass, so that a long backlog does not hold the jobs up


@dataclass
class Pass:
    """What one pass of the worker did."""

    dispatched: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"dispatched": self.dispatched, "deliveries": self.delivered, "jobs": self.jobs}


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        name: str | None = None,
        client: httpx.Client | None = None,
        rng: Random | None = None,
        senders: dict[Channel, dispatch.Sender] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.name = name or default_name()
        self.client = client or httpx.Client()
        self.rng = rng or Random()
        self.senders = senders if senders is not None else messages.message_senders(engine, self.client)

    def tick(self) -> Pass:
        """One pass: the outbox, the deliveries due, the jobs due."""
        done = Pass()
        while dispatched := dispatch.fan_out(self.engine, self.clock()):
            done.dispatched += dispatched
        for _ in range(MAX_DELIVERY_BATCHES):
            batch = dispatch.deliver(self.engine, self.clock, self.client, self.rng, senders=self.senders)
            for name, count in batch.as_dict().items():
                done.delivered[name] = done.delivered.get(name, 0) + count
            if not batch.claimed:
                break
        self._jobs(done)
        return done

    def _jobs(self, done: Pass) -> None:
        for stale in runs.take_over(self.engine, self.name, self.clock()):
            log.warning("taking over run %s of %s as of %s", stale.run_id, stale.job, stale.as_of.isoformat())
            counts = runs.execute(self.engine, stale.run_id, stale.job, stale.as_of, self.clock)
            done.jobs.append(_ran(stale.run_id, stale.job, stale.as_of, counts, taken_over=True))
        now = self.clock()
        with UnitOfWork(self.engine, read_only=True) as uow:
            try:
                programs.version_at(uow, now)
            except programs.NoProgram:
                return  # no program in force yet: no job has anything to do
            schedules = runs.parsed_schedule(uow)
            last = runs.last_slots(uow)
            zone = programs.time_zone(uow, now)
        for job, when in schedules.items():
            for slot in schedule.due(when, zone, last.get(job), now, catch_up=job in schedule.CATCH_UP):
                run_id = runs.start(self.engine, job, slot, "schedule", self.name, self.clock(), slot=slot)
                if run_id is None:
                    continue  # another worker recorded this slot first
                counts = runs.execute(self.engine, run_id, job, slot, self.clock)
                done.jobs.append(_ran(run_id, job, slot, counts))

    def run(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Pass after pass until `stop` is set, pausing `poll_seconds` between passes (longer while the database
        is away)."""
        pause = poll_seconds
        while not stop.is_set():
            try:
                done = self.tick()
            except Exception as error:  # the worker outlives any one failure; what failed is logged
                kind = failure_of(error)
                log.warning("worker pass failed (%s): %s", kind.value if kind else "error", error)
                pause = min(max(pause * 2, poll_seconds), 60.0)
            else:
                pause = poll_seconds
                if done.dispatched or done.delivered.get("claimed") or done.jobs:
                    log.info("worker pass: %s", done.as_dict())
            stop.wait(pause)


def _ran(
    run_id: int, job: str, as_of: datetime, counts: dict[str, int] | None, *, taken_over: bool = False
) -> dict[str, Any]:
    outcome = {"run_id": run_id, "job": job, "as_of": as_of.isoformat(), "ok": counts is not None, "counts": counts}
    if taken_over:
        outcome["taken_over"] = True
    return outcome
