"""Action events: review, referral, subscription, survey, email_open and custom types earn their bonus."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.instants import parse_happened_at
from loyalty.engagement import actions, surveys
from loyalty.engagement.schemas import (
    ActionEvent,
    ActionResult,
    ProductViewed,
    SurveyAnswers,
    SurveyRecorded,
    ViewRecorded,
)
from loyalty.http import deps
from loyalty.http.bodies import BodyRoute
from loyalty.members import service as members
from loyalty.members import views
from loyalty.storage.database import UnitOfWork

router = APIRouter(prefix="/v1/events", tags=["events"], route_class=BodyRoute)


@router.post(
    "",
    status_code=201,
    response_model=ActionResult,
    summary="Record an action event",
    description="Grants the program's bonus for the action, once per (type, event_id) and within the "
    "program's caps (409 cap-reached when a cap is reached). A member in the control group of an experiment "
    "withholding the program at the event's time gets 0 points: the event is recorded, `withheld_by` and `reason` "
    "name the experiment, and no cap is used up.",
)
def record(body: ActionEvent, request: Request, key: deps.Checkout) -> JSONResponse:
    now = deps.now(request)
    occurred_at = _happened_at(request, body.occurred_at, now)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        member_id = members.resolve(uow, body.member.as_ref())
        try:
            return actions.record_action(
                uow, member_id, body.type, body.event_id, occurred_at, now, occurred_at_given=bool(body.occurred_at)
            )
        except InvalidInput as error:  # the use case names the action `action`; this body calls it `type`
            problems = [FieldProblem("type" if p.path == "action" else p.path, p.reason) for p in error.problems]
            raise type(error)(problems) from None

    return deps.idempotent(request, key, body.model_dump(), 201, run)


@router.post(
    "/product-viewed",
    response_model=ViewRecorded,
    summary="Record that a member viewed a product",
    description="Buying the product within the days a rule's `viewed_within_days` allows earns that rule. "
    "Recording the same view again changes nothing; an older view never replaces a newer one.",
)
def product_viewed(body: ProductViewed, request: Request, key: deps.Checkout) -> JSONResponse:
    now = deps.now(request)
    viewed_at = _happened_at(request, body.occurred_at, now)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        return views.record_view(uow, members.resolve(uow, body.member.as_ref()), body.sku, viewed_at)

    return deps.idempotent(request, key, body.model_dump(), 200, run)


@router.post(
    "/survey-answered",
    response_model=SurveyRecorded,
    summary="Record a member's survey answers",
    description="Recorded once per member and survey as a `survey.answered` event (for messages and webhooks); "
    "the program's `survey` action bonus, if it has one, is given with it. Reporting the same survey again changes "
    "nothing.",
)
def survey_answered(body: SurveyAnswers, request: Request, key: deps.Checkout) -> JSONResponse:
    now = deps.now(request)
    answered_at = _happened_at(request, body.occurred_at, now)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        member_id = members.resolve(uow, body.member.as_ref())
        return surveys.record_answers(uow, member_id, body.survey_id, dict(body.answers), answered_at, now)

    return deps.idempotent(request, key, body.model_dump(), 200, run)


def _happened_at(request: Request, value: str | None, now: datetime) -> datetime:
    return parse_happened_at(value, "occurred_at", now, zone=deps.program_zone(request)) if value else now
