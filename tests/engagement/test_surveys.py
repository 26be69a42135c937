"""Survey answers: an event once per member and survey, and the program's `survey` bonus with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from loyalty.engagement import surveys
from loyalty.messaging import outbox
from tests.usecases import NOW, SEED_PROGRAM, balance, publish, read, register, run, seed_program


def answer(engine: Engine, member_id: int, survey_id: str = "nps-2026-11", **answers: str) -> dict[str, Any]:
    given = answers or {"recommend": "9"}
    return run(engine, lambda uow: surveys.record_answers(uow, member_id, survey_id, given, NOW, NOW))


def test_answers_are_an_event_and_earn_the_survey_bonus_once(engine: Engine) -> None:
    publish(engine, seed_program(actions={**SEED_PROGRAM["actions"], "survey": {"points": 50, "cap": {"count": None}}}))
    member_id = register(engine)
    first = answer(engine, member_id, comment="Быстрая доставка")
    assert first == {"member_id": member_id, "survey_id": "nps-2026-11", "points": 50, "recorded": True}
    again = answer(engine, member_id)
    assert again == {**first, "recorded": False}
    assert balance(engine, member_id)["balance"] == 500 + 50
    found = [
        e for e in read(engine, lambda uow: outbox.events(uow, member_id=member_id)) if e["kind"] == "survey.answered"
    ]
    assert len(found) == 1
    assert found[0]["data"] == {"survey_id": "nps-2026-11", "answers": {"comment": "Быстрая доставка"}, "points": 50}
    assert answer(engine, member_id, "csat-2026-12")["points"] == 50  # another survey earns again


def test_without_a_survey_action_the_answers_are_still_recorded(seeded: Engine) -> None:
    member_id = register(seeded)
    assert answer(seeded, member_id)["points"] == 0
    assert balance(seeded, member_id)["balance"] == 500
    kinds = [e["kind"] for e in read(seeded, lambda uow: outbox.events(uow, member_id=member_id))]
    assert kinds.count("survey.answered") == 1
