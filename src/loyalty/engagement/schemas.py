"""Events the shop reports about a member: actions that earn points, and product views."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from loyalty.core import limits
from loyalty.http.schemas import Instant, InstantOrDate, Key, MemberRef, Sku, Strict


class ActionEvent(Strict):
    type: Annotated[str, Field(pattern=limits.id_pattern(limits.ACTION_NAME), examples=["review"])]
    event_id: Key = Field(description="Your id of the event; a retry with the same id grants nothing more")
    member: MemberRef
    occurred_at: InstantOrDate | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "review",
                    "event_id": "review-77812",
                    "member": {"member_id": 1},
                    "occurred_at": "2026-11-23T12:00:00+03:00",
                }
            ]
        },
    )


class ProductViewed(Strict):
    member: MemberRef
    sku: Sku
    occurred_at: InstantOrDate | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"member": {"member_id": 1}, "sku": "coat-42", "occurred_at": "2026-11-23T12:00:00+03:00"}]
        },
    )


class ViewRecorded(BaseModel):
    member_id: int
    sku: str
    viewed_at: Instant = Field(description="The latest view of the product")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"member_id": 1, "sku": "coat-42", "viewed_at": "2026-11-23T09:00:00+00:00"}]}
    )


class ActionResult(BaseModel):
    member_id: int
    action: str
    event_id: str
    points: int = Field(description="The bonus credited; 0 when an experiment withheld it (see `withheld_by`)")
    entry_no: int | None = Field(description="The ledger entry that credited it; null when nothing was credited")
    program_version: int
    available_at: Instant | None
    expires_at: Instant | None
    withheld_by: str | None = Field(
        default=None,
        description="`experiment:<id>` when the member is in the control group of an experiment withholding the "
        "program at the event's time: the event is recorded, its bonus is not given",
    )
    reason: str | None = Field(default=None, description="Why the bonus was withheld, when it was")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": 1,
                    "action": "review",
                    "event_id": "review-77812",
                    "points": 50,
                    "entry_no": 5,
                    "program_version": 1,
                    "available_at": "2026-11-23T09:00:00+00:00",
                    "expires_at": "2027-11-23T09:00:00+00:00",
                }
            ]
        }
    )


class SurveyAnswers(Strict):
    survey_id: Annotated[str, Field(pattern=limits.id_pattern(limits.PROGRAM_ID), description="Your id of the survey")]
    member: MemberRef
    answers: dict[
        Annotated[str, Field(min_length=1, max_length=limits.KEY)], Annotated[str, Field(max_length=limits.REASON)]
    ] = Field(max_length=100, description="Question id → answer")
    occurred_at: InstantOrDate | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "survey_id": "nps-2026-11",
                    "member": {"member_id": 1},
                    "answers": {"recommend": "9", "comment": "Быстрая доставка"},
                }
            ]
        },
    )


class SurveyRecorded(BaseModel):
    member_id: int
    survey_id: str
    points: int = Field(
        description="The program's `survey` bonus given for it (0: none, a cap reached, or withheld by an experiment)"
    )
    recorded: bool = Field(description="False: this member's answers to this survey were already recorded")
    withheld_by: str | None = Field(
        default=None, description="`experiment:<id>` when an experiment's control group went without the bonus"
    )
    reason: str | None = Field(default=None, description="Why the bonus was withheld, when it was")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"member_id": 1, "survey_id": "nps-2026-11", "points": 50, "recorded": True}]}
    )
