"""Scheduled jobs run over HTTP, what each answers (a model per job of the registry), and the ledger audit."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from loyalty.http.schemas import Instant, InstantOrDate, Strict
from loyalty.jobs.registry import JOBS, Job


class JobRequest(Strict):
    as_of: InstantOrDate | None = Field(
        None, description="Run as of this instant, or of the end of this date in the program's time zone (default: now)"
    )

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-11-30"}]})


class JobRun(BaseModel):
    """What every job answers: which job ran and the instant it ran as of."""

    as_of: Instant = Field(description="The instant the job ran as of")


def _result_model(job: Job) -> type[JobRun]:
    """The answer of one job: its name, the instant it ran as of and its counts, under the model name
    `<Name>Result` (activate: ActivateResult, win-back: WinBackResult)."""
    example: dict[str, Any] = {
        "job": job.name,
        "as_of": "2026-11-30T20:59:59+00:00",
        **{c.name: c.example for c in job.counts},
    }
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {"job": Literal[job.name], **{c.name: int for c in job.counts}},
        "model_config": ConfigDict(json_schema_extra={"examples": [example]}),
        **{c.name: Field(description=c.description) for c in job.counts},
    }
    name = job.name.title().replace("-", "") + "Result"
    return cast("type[JobRun]", type(name, (JobRun,), namespace))


RESULTS: dict[str, type[JobRun]] = {name: _result_model(job) for name, job in JOBS.items()}


class AuditResult(BaseModel):
    ok: bool
    violations: list[str]
    checked: dict[str, int]
    checks: dict[str, int] = Field(description="The violations each check found, by its name (`loyalty audit --list`)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "violations": [],
                    "checked": {"accounts": 2357, "entries": 10017, "lots": 5624, "orders": 6919},
                    "checks": {"account-totals": 0, "order-entries": 0},
                }
            ]
        }
    )


_RUN: dict[str, Any] = {
    "run_id": 311,
    "job": "expire",
    "as_of": "2026-11-30T21:10:00+00:00",
    "trigger": "schedule",
    "status": "succeeded",
    "worker": "app-1:4242",
    "attempts": 1,
    "started_at": "2026-11-30T21:10:01+00:00",
    "finished_at": "2026-11-30T21:10:04+00:00",
    "counts": {"accounts": 31, "points": 12500},
    "error": None,
}


class JobRunView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RUN]})

    run_id: int
    job: str
    as_of: Instant
    trigger: Literal["schedule", "api", "cli"] = Field(description="Who started it")
    status: Literal["running", "succeeded", "failed"]
    worker: str | None = Field(description="The worker that ran it (scheduled runs)")
    attempts: int = Field(description="More than 1 when a worker took the run over from one that stopped")
    started_at: Instant
    finished_at: Instant | None
    counts: dict[str, int] | None
    error: str | None


class JobRunPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"runs": [_RUN], "next_cursor": "310"}]})

    runs: list[JobRunView]
    next_cursor: str | None


class JobSchedule(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"schedule": {"expire": "daily 00:10", "activate": "every 15m", "tiers": "off"}}]
        }
    )

    schedule: dict[str, str] = Field(
        description="Job name → `daily HH:MM` (program time zone), `every <n>m`, `every <n>h` or `off`",
        examples=[{"expire": "daily 00:10", "activate": "every 15m", "tiers": "off"}],
    )


class ScheduleChange(Strict):
    schedule: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=20)]] = Field(
        max_length=50, examples=[{"tiers": "daily 02:30", "win-back": "off"}]
    )
