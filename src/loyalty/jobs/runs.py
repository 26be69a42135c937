"""Job runs: every run of a job is recorded (as of, started, finished, what it did, the error), whoever started
it: the worker's scheduler, the API or the command line. The schedule itself (`jobs.schedule`) is kept in the
database, so that every worker follows the same one and an operator changes it without a restart."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, exc, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.core import limits
from loyalty.core.errors import InvalidInput, NotFound
from loyalty.jobs import schedule
from loyalty.jobs.registry import JOBS
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

LEASE = timedelta(minutes=5)  # a running run's claim; renewed every LEASE / 3 while it works
SCHEDULE_SETTING = "worker.schedule"
MAX_PAGE = 1000

_R = t.job_runs.c


def run_json(row: Any) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "job": row.job,
        "as_of": row.as_of.isoformat(),
        "trigger": row.trigger,
        "status": row.status,
        "worker": row.worker,
        "attempts": row.attempts,
        "started_at": row.started_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at is not None else None,
        "counts": row.counts,
        "error": row.error,
    }


def start(
    engine: Engine,
    job: str,
    as_of: datetime,
    trigger: str,
    worker: str | None,
    now: datetime,
    *,
    slot: datetime | None = None,
) -> int | None:
    """Record that `job` starts as of `as_of`; its run id, or None when `slot` was already recorded (by another
    worker, or by this one earlier)."""
    values = {
        "job": job,
        "as_of": as_of,
        "slot": f"{job}@{slot.isoformat()}" if slot is not None else None,
        "trigger": trigger,
        "status": "running",
        "worker": worker[: limits.WORKER_NAME] if worker else None,
        "attempts": 1,
        "started_at": now,
        "claimed_until": now + LEASE,
    }
    with UnitOfWork(engine) as uow:
        insert = postgresql.insert if uow.conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(t.job_runs).values(values).on_conflict_do_nothing().returning(_R.run_id)
        run_id = uow.conn.execute(statement).scalar()
        uow.commit()
    return run_id


def finish(engine: Engine, run_id: int, now: datetime, counts: dict[str, int] | None, error: str | None) -> None:
    with UnitOfWork(engine) as uow:
        uow.conn.execute(
            update(t.job_runs)
            .where(_R.run_id == run_id)
            .values(
                status="failed" if error is not None else "succeeded",
                finished_at=now,
                claimed_until=None,
                counts=counts,
                error=error,
            )
        )
        uow.commit()


def take_over(engine: Engine, worker: str, now: datetime) -> list[Any]:
    """Claim the runs whose worker stopped renewing its claim (killed, or cut off from the database); each is run
    again as of its instant by the caller (a job run twice as of the same instant does nothing more)."""
    with UnitOfWork(engine) as uow:
        stale = (
            uow.conn.execute(
                select(_R.run_id)
                .where(_R.status == "running", _R.claimed_until < now)
                .order_by(_R.run_id)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        rows: Sequence[Any] = []
        if stale:
            rows = uow.conn.execute(
                update(t.job_runs)
                .where(_R.run_id.in_(stale), _R.status == "running", _R.claimed_until < now)
                .values(worker=worker[: limits.WORKER_NAME], attempts=_R.attempts + 1, claimed_until=now + LEASE)
                .returning(_R.run_id, _R.job, _R.as_of)
            ).all()
        uow.commit()
    return sorted(rows, key=lambda r: r.run_id)


def renew(engine: Engine, run_id: int, until: datetime) -> None:
    with UnitOfWork(engine) as uow:
        uow.conn.execute(
            update(t.job_runs).where(_R.run_id == run_id, _R.status == "running").values(claimed_until=until)
        )
        uow.commit()


def execute(
    engine: Engine, run_id: int, job: str, as_of: datetime, clock: Callable[[], datetime]
) -> dict[str, int] | None:
    """Run a recorded run to its end, renewing its claim meanwhile, and record the outcome; its counts (None: it
    failed, and the error is recorded)."""
    stop = threading.Event()

    def keep_claim() -> None:
        while not stop.wait(LEASE.total_seconds() / 3):
            # The database being away is no reason to stop: the run fails or finishes; a lapsed claim is taken over.
            with contextlib.suppress(exc.SQLAlchemyError):
                renew(engine, run_id, clock() + LEASE)

    keeper = threading.Thread(target=keep_claim, name=f"claim-{run_id}", daemon=True)
    keeper.start()
    try:
        counts = JOBS[job].run(engine, as_of, clock())
    except Exception as error:  # any failure is the run's outcome, recorded for the operator
        stop.set()
        finish(engine, run_id, clock(), None, f"{type(error).__name__}: {error}"[:2000])
        return None
    finally:
        stop.set()
        keeper.join()
    finish(engine, run_id, clock(), counts, None)
    return counts


def run_now(
    engine: Engine, job: str, as_of: datetime, clock: Callable[[], datetime], trigger: str, worker: str | None = None
) -> dict[str, int]:
    """Run a job by hand (API, command line), recorded like a scheduled run; its counts. A failure is recorded,
    then raised."""
    now = clock()
    run_id = start(engine, job, as_of, trigger, worker, now)
    assert run_id is not None  # only a scheduled slot can be taken
    try:
        counts = JOBS[job].run(engine, as_of, now)
    except Exception as error:
        finish(engine, run_id, clock(), None, f"{type(error).__name__}: {error}"[:2000])
        raise
    finish(engine, run_id, clock(), counts, None)
    return counts


def runs(
    uow: UnitOfWork,
    *,
    job: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The runs, newest first (a page continues `before` the last id it showed)."""
    query = select(t.job_runs).order_by(_R.run_id.desc()).limit(min(limit, MAX_PAGE))
    if job is not None:
        query = query.where(_R.job == job)
    if status is not None:
        query = query.where(_R.status == status)
    if before is not None:
        query = query.where(_R.run_id < before)
    return [run_json(row) for row in uow.conn.execute(query)]


def get_run(uow: UnitOfWork, run_id: int) -> dict[str, Any]:
    row = uow.conn.execute(select(t.job_runs).where(_R.run_id == run_id)).first()
    if row is None:
        raise NotFound(f"no job run {run_id}")
    return run_json(row)


def last_slots(uow: UnitOfWork) -> dict[str, datetime]:
    """The latest scheduled instant recorded per job."""
    rows = uow.conn.execute(
        select(_R.job, func.max(_R.as_of).label("latest")).where(_R.trigger == "schedule").group_by(_R.job)
    ).all()
    return {row.job: row.latest for row in rows}


# The schedule


def read_schedule(uow: UnitOfWork) -> dict[str, str]:
    """Every job's schedule as text: the defaults, with what an operator set over them."""
    stored = uow.conn.execute(select(t.settings.c.value).where(t.settings.c.name == SCHEDULE_SETTING)).scalar()
    current = dict(schedule.DEFAULTS)
    if stored:
        current.update({job: text for job, text in json.loads(stored).items() if job in JOBS})
    return {job: current.get(job, "off") for job in JOBS}


def parsed_schedule(uow: UnitOfWork) -> dict[str, schedule.Schedule]:
    return {job: schedule.parse(text, job) for job, text in read_schedule(uow).items()}


def set_schedule(uow: UnitOfWork, changes: dict[str, str]) -> dict[str, str]:
    """Change the schedules given (job name → `daily HH:MM` | `every <n>m|h` | `off`); the others stay."""
    problems = []
    normalised: dict[str, str] = {}
    for job, text in changes.items():
        if job not in JOBS:
            problems.append(InvalidInput.at(job, f"no such job; one of: {', '.join(JOBS)}"))
            continue
        try:
            normalised[job] = schedule.describe(schedule.parse(text, job))
        except InvalidInput as error:
            problems.append(error)
    if problems:
        raise InvalidInput([p for error in problems for p in error.problems])
    current = read_schedule(uow)
    current.update(normalised)
    overrides = {job: text for job, text in current.items() if text != schedule.DEFAULTS.get(job, "off")}
    insert = postgresql.insert if uow.conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(t.settings).values(name=SCHEDULE_SETTING, value=json.dumps(overrides, sort_keys=True))
    uow.conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": statement.excluded.value}))
    return current
