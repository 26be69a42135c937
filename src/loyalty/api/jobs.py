"""Admin jobs over HTTP: activate, expire, audit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request

from loyalty.api import deps, schemas
from loyalty.api.bodies import BodyRoute
from loyalty.services import access, audit, birthdays, jobs, referrals, tiers, winback
from loyalty.services.orders import parse_instant
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1", tags=["jobs"], route_class=BodyRoute)
Admin = Annotated[access.ApiKey, Depends(deps.require("admin"))]


@router.post(
    "/jobs/{job}",
    response_model=schemas.JobResult,
    summary="Run a job as of an instant",
    description="`activate` records lots whose pending period ended; `expire` writes off expired points; `tiers` "
    "re-evaluates every member's tier (downgrades happen only here); `birthdays` grants the birthday bonus "
    "to the members whose birthday it is; `referrals` rewards the referrers whose referred member's first order "
    "is past its return window (`rewarded`: how many); `win-back` grants the program's win-back points to the "
    "members inactive long enough (`granted`: how many). "
    "Running a job again as of the same instant changes nothing.",
)
def run_job(
    job: Literal["activate", "expire", "tiers", "birthdays", "referrals", "win-back"],
    request: Request,
    _: Admin,
    body: schemas.JobRequest | None = None,
) -> dict[str, Any]:
    now = deps.now(request)
    as_of = parse_instant(body.as_of, "as_of") if body and body.as_of else now
    engine = deps.engine(request)
    if job == "birthdays":
        return {"job": job, "as_of": as_of.isoformat(), **birthdays.grant_gifts(engine, as_of, now)}
    if job == "tiers":
        return {"job": job, "as_of": as_of.isoformat(), **tiers.reevaluate(engine, as_of, now)}
    if job == "win-back":
        return {"job": job, "as_of": as_of.isoformat(), **winback.run(engine, as_of, now)}
    if job == "referrals":
        return {"job": job, "as_of": as_of.isoformat(), "rewarded": referrals.run(engine, as_of, now)}
    result = jobs.activate(engine, as_of, now) if job == "activate" else jobs.expire(engine, as_of, now)
    return {"job": job, "as_of": as_of.isoformat(), **result}


@router.get(
    "/audit",
    response_model=schemas.AuditResult,
    summary="Audit the ledger",
    description="Checks every ledger invariant; lists each violation with its account or order.",
)
def run_audit(request: Request, _: Admin) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        violations, counts = audit.run(uow)
    return {"ok": not violations, "violations": [str(v) for v in violations], "checked": counts}
