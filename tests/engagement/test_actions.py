"""Action bonuses on both databases: exactly once per event id, within the program's caps counted in the
program's time zone (Europe/Moscow), by the version in force when the action happened."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from loyalty.core.errors import Conflict, InvalidInput, NotFound
from loyalty.engagement import actions
from tests.usecases import (
    NOW,
    balance,
    entries,
    publish,
    register,
    run,
    seed_program,
    snapshot,
    violations,
)

MSK = ZoneInfo("Europe/Moscow")
LATER = datetime(2027, 1, 15, 12, tzinfo=MSK)  # when the requests arrive, after every event below


def msk(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MSK)


def record(engine: Engine, member_id: int, action: str, event_id: str, at: datetime) -> dict[str, Any]:
    return run(engine, lambda uow: actions.record_action(uow, member_id, action, event_id, at, LATER))


def test_an_action_grants_its_points_once_per_event_id(seeded: Engine, member: int) -> None:
    first = record(seeded, member, "review", "review-1", msk(11, 5))
    assert (first["points"], first["action"], first["event_id"], first["program_version"]) == (
        100,
        "review",
        "review-1",
        1,
    )
    assert first["expires_at"] == (msk(11, 5) + timedelta(days=365)).isoformat()
    before = snapshot(seeded)
    assert record(seeded, member, "review", "review-1", msk(11, 5)) == first
    assert snapshot(seeded) == before
    # The same event id with other details is a conflict, whoever sends it.
    with pytest.raises(Conflict):
        record(seeded, member, "review", "review-1", msk(11, 6))
    other = register(seeded, "+79123456780")
    before = snapshot(seeded)
    with pytest.raises(Conflict):
        record(seeded, other, "review", "review-1", msk(11, 5))
    assert snapshot(seeded) == before
    # The same event id under another action type is another event.
    assert record(seeded, member, "email_open", "review-1", msk(11, 5))["points"] == 10
    assert balance(seeded, member, LATER)["balance"] == 500 + 100 + 10
    assert violations(seeded) == []


def test_a_monthly_cap_counts_in_the_programs_time_zone(seeded: Engine, member: int) -> None:
    record(seeded, member, "review", "r1", msk(11, 1, 0, 0))
    record(seeded, member, "review", "r2", msk(11, 20))
    before = snapshot(seeded)
    with pytest.raises(actions.CapReached):
        record(seeded, member, "review", "r3", msk(11, 30, 23, 59))
    assert snapshot(seeded) == before
    # Midnight in Moscow is 21:00 UTC the day before: a new month has begun.
    assert record(seeded, member, "review", "r3", msk(12, 1, 0, 0))["points"] == 100
    assert balance(seeded, member, LATER)["balance"] == 500 + 300
    assert violations(seeded) == []


def test_a_late_event_counts_in_its_own_period(seeded: Engine, member: int) -> None:
    """December's reviews arrive first; a review written in November, sent late, still has November's cap."""
    record(seeded, member, "review", "dec-1", msk(12, 2))
    record(seeded, member, "review", "dec-2", msk(12, 3))
    with pytest.raises(actions.CapReached):
        record(seeded, member, "review", "dec-3", msk(12, 4))
    assert record(seeded, member, "review", "nov-1", msk(11, 28))["points"] == 100
    assert record(seeded, member, "review", "nov-2", msk(11, 29))["points"] == 100
    with pytest.raises(actions.CapReached):
        record(seeded, member, "review", "nov-3", msk(11, 30))
    assert balance(seeded, member, LATER)["balance"] == 500 + 400


def test_registration_is_granted_once(seeded: Engine, member: int) -> None:
    with pytest.raises(actions.CapReached):
        record(seeded, member, "registration", "again", msk(11, 5))
    assert balance(seeded, member, LATER)["balance"] == 500


def test_an_uncapped_action_earns_every_time(seeded: Engine, member: int) -> None:
    for i in range(5):
        record(seeded, member, "email_open", f"open-{i}", msk(11, 5))
    assert balance(seeded, member, LATER)["balance"] == 550


def test_the_bonus_follows_the_version_in_force_when_the_action_happened(seeded: Engine, member: int) -> None:
    document = seed_program()
    document["actions"]["review"] = {"points": 250, "pending_days": 7, "cap": {"count": 2, "per": "month"}}
    publish(seeded, document, msk(12, 1, 0, 0))
    november = record(seeded, member, "review", "nov", msk(11, 30, 23, 59))
    december = record(seeded, member, "review", "dec", msk(12, 1, 0, 0))
    assert (november["points"], november["program_version"]) == (100, 1)
    assert (december["points"], december["program_version"]) == (250, 2)
    assert december["available_at"] == msk(12, 8, 0, 0).isoformat()
    figures = balance(seeded, member, msk(12, 2))
    assert (figures["balance"], figures["available"], figures["pending"]) == (850, 600, 250)


@pytest.mark.parametrize(
    ("action", "event_id", "path"),
    [("selfie", "e1", "action"), ("review", "", "event_id"), ("review", "x" * 201, "event_id")],
)
def test_bad_action_requests_name_the_field_and_write_nothing(
    seeded: Engine, member: int, action: str, event_id: str, path: str
) -> None:
    before = snapshot(seeded)
    with pytest.raises(InvalidInput) as caught:
        record(seeded, member, action, event_id, msk(11, 5))
    assert [p.path for p in caught.value.problems] == [path]
    assert snapshot(seeded) == before


def test_an_action_of_an_unknown_member_is_not_found(seeded: Engine) -> None:
    with pytest.raises(NotFound):
        record(seeded, 999, "review", "e1", msk(11, 5))
    assert entries(seeded, 999) == []
    assert NOW < LATER
