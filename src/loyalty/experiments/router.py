"""Experiments over HTTP, under the analytics API: an admin creates them, an analytics key reads them and their
report; the sample-size calculator plans the next one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from loyalty.core import limits
from loyalty.experiments import planning
from loyalty.experiments import report as reports
from loyalty.experiments import service as experiments
from loyalty.experiments.schemas import Experiment, ExperimentList, NewExperiment, Report, SampleSize
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1/analytics", tags=["experiments"], route_class=BodyRoute)
ExperimentId = Annotated[str, Path(pattern=limits.id_pattern(limits.EXPERIMENT_ID), description="The experiment's id")]
Number = Annotated[str, Query(max_length=40)]


@router.post(
    "/experiments",
    status_code=201,
    response_model=Experiment,
    summary="Create an experiment",
    description="A holdout (`share` of the members, above 0 and at most 0.5, optionally drawn from a `segment`: "
    "a seeded hash of the member's id decides, so membership is stable from registration on) or a split of "
    "`stores` or `cities` (`treatment` lists those with the program, `control` those without). `withholds`: "
    "`program` (the control group earns and spends no points) or `campaigns` (no campaign points). The checkout "
    "applies it over [starts_at, ends_at). A bad field is 422 naming it (an unknown segment, store or city, a "
    "share out of range, a period that ends before it starts); an id already taken is 409. Accepts an "
    "`Idempotency-Key` header.",
)
def create_experiment(body: NewExperiment, request: Request, key: deps.Admin) -> JSONResponse:
    data, now, zone = body.as_dict(), deps.now(request), deps.program_zone(request)
    return deps.idempotent(request, key, data, 201, lambda uow: experiments.create(uow, data, now, zone))


@router.get("/experiments", response_model=ExperimentList, summary="List experiments")
def list_experiments(request: Request, _: deps.Analytics) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return {"experiments": [experiments.as_json(e) for e in experiments.list_experiments(uow)]}


@router.get("/experiments/{experiment_id}", response_model=Experiment, summary="Get an experiment")
def get_experiment(experiment_id: ExperimentId, request: Request, _: deps.Analytics) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return experiments.as_json(experiments.get(uow, experiment_id))


@router.get(
    "/experiments/{experiment_id}/report",
    response_model=Report,
    response_model_by_alias=True,
    summary="Get an experiment's report",
    description="The lift in orders per customer, spend per customer and average check, treatment against control "
    "over the experiment's period: the difference and the relative lift with Welch's t interval and a seeded "
    "percentile bootstrap, the sample sizes, the interval narrowed by CUPED with the pre-period of the same length, "
    "and the verdict (`not significant` when Welch's interval contains 0). A split by store or city also compares "
    "store-weeks. The README says how customers are assigned to groups.",
)
def experiment_report(
    experiment_id: ExperimentId,
    request: Request,
    _: deps.Analytics,
    confidence: Annotated[float, Query(ge=0.5, le=0.999, description="The intervals' confidence")] = 0.95,
) -> dict[str, Any]:
    with UnitOfWork(deps.engine(request), read_only=True) as uow:
        return reports.report(uow, experiment_id, confidence=confidence)


@router.get(
    "/sample-size",
    response_model=SampleSize,
    summary="Plan an experiment's sample size",
    description="The units needed in each group to detect a relative change `effect` (0.05 is +5%) of a mean "
    "`baseline_mean` whose standard deviation is `sd`, by a two-sided test at level `alpha` with probability "
    "`power`: n = 2 (z(1 - alpha/2) + z(power))² sd² / (effect × baseline_mean)², rounded up.",
)
def sample_size(
    _: deps.Analytics,
    baseline_mean: Number,
    sd: Number,
    effect: Number,
    alpha: Number = "0.05",
    power: Number = "0.8",
) -> dict[str, Any]:
    return planning.sample_size(baseline_mean, sd, effect, alpha, power)
