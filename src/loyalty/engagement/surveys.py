"""Survey answers: the shop reports a member's answers; they become a `survey.answered` event (for messages, webhooks
and engagement figures) and, when the program has a `survey` action, earn its bonus once per member and survey."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from loyalty.core.errors import Conflict
from loyalty.core.events import Event, EventKind
from loyalty.engagement import actions
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

ACTION = "survey"  # the program's action bonus for answering a survey (MIXIT's points for a questionnaire)


def record_answers(
    uow: UnitOfWork, member_id: int, survey_id: str, answers: dict[str, str], occurred_at: datetime, now: datetime
) -> dict[str, Any]:
    """Record a member's answers to a survey, once: a second report of the same survey for the same member changes
    nothing and answers as the first did."""
    key = f"survey:{survey_id}"
    e = t.events.c
    seen = uow.conn.execute(
        select(e.data).where(e.account_id == member_id, e.kind == EventKind.SURVEY_ANSWERED.value, e.key == key)
    ).first()
    if seen is not None:
        withheld = {k: seen.data[k] for k in _WITHHELD if k in seen.data}
        points = seen.data.get("points", 0)
        return {"member_id": member_id, "survey_id": survey_id, "points": points, "recorded": False, **withheld}
    points, withheld = 0, {}
    version = programs.version_at(uow, occurred_at)
    if ACTION in version.program.actions:
        try:
            granted = actions.record_action(
                uow, member_id, ACTION, f"{survey_id}:{member_id}", occurred_at, now, occurred_at_given=False
            )
            points = int(granted["points"])
            withheld = {k: granted[k] for k in _WITHHELD if granted.get(k) is not None}  # an experiment's control group
        except Conflict:  # a cap reached: the answers count all the same
            points = 0
    data = {"survey_id": survey_id, "answers": answers, "points": points, **withheld}
    uow.emit(Event(EventKind.SURVEY_ANSWERED, member_id, occurred_at, data, key=key), now)
    return {"member_id": member_id, "survey_id": survey_id, "points": points, "recorded": True, **withheld}


_WITHHELD = ("withheld_by", "reason")
