"""deps.Admin jobs over HTTP, one route and one result per job of the registry (`jobs.registry`), and the ledger
audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from loyalty.audit import service as audit
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.jobs.registry import JOBS, Job
from loyalty.jobs.schemas import RESULTS, AuditResult, JobRequest
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1", tags=["jobs"], route_class=BodyRoute)


def _route(job: Job) -> Callable[..., JSONResponse]:
    def run_job(request: Request, key: deps.Admin, body: JobRequest | None = None) -> JSONResponse:
        now = deps.now(request)
        as_of = now
        if body is not None and body.as_of is not None:
            as_of = parse_instant(body.as_of, "as_of", zone=deps.program_zone(request), day="end")
        engine = deps.engine(request)
        return deps.idempotent_batch(
            request,
            key,
            body.model_dump() if body else {},  # a retry without as_of replays, though "now" has moved on
            lambda: {"job": job.name, "as_of": as_of.isoformat(), **job.run(engine, as_of, now)},
        )

    return run_job


for _name, _job in JOBS.items():
    router.add_api_route(
        f"/jobs/{_name}",
        _route(_job),
        methods=["POST"],
        name=f"run_{_name.replace('-', '_')}",
        response_model=RESULTS[_name],
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
    description="Checks every ledger invariant; lists each violation with its account or order, and how many each "
    "check found.",
)
def run_audit(request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        report = audit.check_all(uow)
    return {
        "ok": not report.violations,
        "violations": [str(v) for v in report.violations],
        "checked": report.counts,
        "checks": {check.name: len(found) for check, found in report.found},
    }
