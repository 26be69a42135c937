"""deps.Admin jobs over HTTP, one route and one result per job of the registry (`jobs.registry`), and the ledger
audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from loyalty.audit import service as audit
from loyalty.core import limits
from loyalty.core.instants import parse_instant
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.jobs import runs
from loyalty.jobs.registry import JOBS, Job
from loyalty.jobs.schemas import RESULTS, AuditResult, JobRequest, JobRunPage, JobRunView, JobSchedule, ScheduleChange
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1", tags=["jobs"], route_class=BodyRoute)


def _route(job: Job) -> Callable[..., JSONResponse]:
    def run_job(request: Request, key: deps.Admin, body: JobRequest | None = None) -> JSONResponse:
        now = deps.now(request)
        as_of = now
        if body is not None and body.as_of is not None:
            as_of = parse_instant(body.as_of, "as_of", zone=deps.program_zone(request), day="end")
        engine, clock = deps.engine(request), request.app.state.clock
        return deps.idempotent_batch(
            request,
            key,
            body.model_dump() if body else {},  # a retry without as_of replays, though "now" has moved on
            lambda: {
                "job": job.name,
                "as_of": as_of.isoformat(),
                **runs.run_now(engine, job.name, as_of, clock, "api"),
            },
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


@router.get(
    "/jobs/runs",
    response_model=JobRunPage,
    summary="List job runs",
    description="Every run of every job, newest first: by the worker's schedule, the API or the command line; as of "
    "when, started and finished when, by which worker, what it did or the error. Pass `next_cursor` back as `cursor` "
    "for the next page.",
)
def list_runs(
    request: Request,
    _: deps.Admin,
    job: Annotated[str | None, Query(max_length=limits.JOB_NAME)] = None,
    status: Annotated[Literal["running", "succeeded", "failed"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        page = runs.runs(uow, job=job, status=status, before=int(cursor) if cursor else None, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return {"runs": page, "next_cursor": str(page[-1]["run_id"]) if more else None}


@router.get("/jobs/runs/{run_id}", response_model=JobRunView, summary="Get a job run")
def get_run(run_id: Annotated[int, Path(ge=1, le=10**18)], request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return runs.get_run(uow, run_id)


@router.get(
    "/jobs/schedule",
    response_model=JobSchedule,
    summary="Get the worker's schedule",
    description="When the worker runs each job: `daily HH:MM` in the program's time zone, `every <n>m`, `every <n>h` "
    "or `off`.",
)
def get_schedule(request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return {"schedule": runs.read_schedule(uow)}


@router.put(
    "/jobs/schedule",
    response_model=JobSchedule,
    summary="Change the worker's schedule",
    description="Sets the schedules given (the other jobs keep theirs); every worker follows the change from its next "
    "pass. An unknown job or a schedule that cannot be read is 422 naming the job.",
)
def put_schedule(body: ScheduleChange, request: Request, _: deps.Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request)) as uow:
        current = runs.set_schedule(uow, body.schedule)
        uow.commit()
    return {"schedule": current}
