"""Scheduled jobs run over HTTP, what each answers, and the ledger audit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.http.schemas import Instant, InstantOrDate, Strict


class JobRequest(Strict):
    as_of: InstantOrDate | None = Field(
        None, description="Run as of this instant, or of the end of this date in the program's time zone (default: now)"
    )

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-11-30"}]})


class JobRun(BaseModel):
    """What every job answers: which job ran and the instant it ran as of."""

    as_of: Instant = Field(description="The instant the job ran as of")


def _job_example(job: str, **counts: int) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [{"job": job, "as_of": "2026-11-30T20:59:59+00:00", **counts}]})


class ActivateResult(JobRun):
    job: Literal["activate"]
    lots: int = Field(description="Lots whose pending period ended, now recorded as activated")
    points: int = Field(description="Points in those lots")

    model_config = _job_example("activate", lots=42, points=12500)


class ExpireResult(JobRun):
    job: Literal["expire"]
    accounts: int = Field(description="Accounts with points written off")
    points: int = Field(description="Points written off")

    model_config = _job_example("expire", accounts=31, points=12500)


class TiersResult(JobRun):
    job: Literal["tiers"]
    members: int = Field(description="Members re-evaluated")
    upgraded: int
    downgraded: int

    model_config = _job_example("tiers", members=2357, upgraded=12, downgraded=3)


class BirthdaysResult(JobRun):
    job: Literal["birthdays"]
    members: int = Field(description="Members who got the birthday gift")
    points: int = Field(description="Points given")

    model_config = _job_example("birthdays", members=7, points=3500)


class ReferralsResult(JobRun):
    job: Literal["referrals"]
    rewarded: int = Field(description="Referrals whose referrer was rewarded")

    model_config = _job_example("referrals", rewarded=4)


class WinBackResult(JobRun):
    job: Literal["win-back"]
    granted: int = Field(description="Members who got win-back points")
    points: int = Field(description="Points given")

    model_config = _job_example("win-back", granted=12, points=6000)


class AuditResult(BaseModel):
    ok: bool
    violations: list[str]
    checked: dict[str, int]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "violations": [],
                    "checked": {"accounts": 2357, "entries": 10017, "lots": 5624, "orders": 6919},
                }
            ]
        }
    )
