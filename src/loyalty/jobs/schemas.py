"""Scheduled jobs run over HTTP, what each answers (a model per job of the registry), and the ledger audit."""

from __future__ import annotations

from typing import Any, Literal, cast

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
