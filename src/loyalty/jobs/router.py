"""Admin jobs over HTTP, one route and one result per job (activate, expire, tiers, birthdays, referrals,
win-back), and the ledger audit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from loyalty.access import service as access
from loyalty.audit import service as audit
from loyalty.core.instants import parse_instant
from loyalty.engagement import birthdays, winback
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.jobs.schemas import (
    ActivateResult,
    AuditResult,
    BirthdaysResult,
    ExpireResult,
    JobRequest,
    ReferralsResult,
    TiersResult,
    WinBackResult,
)
from loyalty.ledger import jobs
from loyalty.referrals import service as referrals
from loyalty.storage.database import UnitOfWork
from loyalty.tiers import service as tiers

router = APIRouter(prefix="/v1", tags=["jobs"], route_class=BodyRoute)
Admin = Annotated[access.ApiKey, Depends(deps.require("admin"))]
JobRunner = Callable[[Engine, datetime, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Job:
    result: type[BaseModel]
    does: str
    run: JobRunner


JOBS = {
    "activate": Job(ActivateResult, "records the lots whose pending period ended", jobs.activate),
    "expire": Job(ExpireResult, "writes off expired points", jobs.expire),
    "tiers": Job(TiersResult, "re-evaluates every member's tier (downgrades happen only here)", tiers.reevaluate),
    "birthdays": Job(
        BirthdaysResult, "grants the birthday gift to the members whose birthday it is", birthdays.grant_gifts
    ),
    "referrals": Job(
        ReferralsResult,
        "rewards the referrers whose referred member's first order is past its return window",
        lambda engine, as_of, now: {"rewarded": referrals.run(engine, as_of, now)},
    ),
    "win-back": Job(
        WinBackResult, "grants the program's win-back points to the members inactive long enough", winback.run
    ),
}


def _route(name: str, job: Job) -> Callable[..., JSONResponse]:
    def run_job(request: Request, key: Admin, body: JobRequest | None = None) -> JSONResponse:
        now = deps.now(request)
        as_of = now
        if body is not None and body.as_of is not None:
            as_of = parse_instant(body.as_of, "as_of", zone=deps.program_zone(request), day="end")
        engine = deps.engine(request)
        return deps.idempotent_batch(
            request,
            key,
            body.model_dump() if body else {},  # a retry without as_of replays, though "now" has moved on
            lambda: {"job": name, "as_of": as_of.isoformat(), **job.run(engine, as_of, now)},
        )

    return run_job


for _name, _job in JOBS.items():
    router.add_api_route(
        f"/jobs/{_name}",
        _route(_name, _job),
        methods=["POST"],
        name=f"run_{_name.replace('-', '_')}",
        response_model=_job.result,
        summary=f"Run the {_name} job",
        description=f"The `{_name}` job {_job.does}, as of `as_of` (default: now; a bare date is the end of that "
        "day in the program's time zone). Running it again as of the same instant changes nothing. Accepts an "
        "`Idempotency-Key` header: a retry with the same key and body returns the first response without running "
        "the job again.",
    )


@router.get(
    "/audit",
    response_model=AuditResult,
    summary="Audit the ledger",
    description="Checks every ledger invariant; lists each violation with its account or order.",
)
def run_audit(request: Request, _: Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        violations, counts = audit.run(uow)
    return {"ok": not violations, "violations": [str(v) for v in violations], "checked": counts}
