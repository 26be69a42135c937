"""Every use case that matters to a member records its event in the outbox, in its own transaction: with the effect,
or not at all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from loyalty.core.errors import LoyaltyError
from loyalty.core.events import EventKind
from loyalty.ledger import jobs
from loyalty.messaging import outbox
from tests.usecases import (
    MEMBER,
    NOW,
    REGISTERED_AT,
    adjust,
    confirm,
    order,
    publish,
    read,
    register,
    return_lines,
    seed_program,
)


def events(engine: Engine, **filters: Any) -> list[dict[str, Any]]:
    return read(engine, lambda uow: outbox.events(uow, **filters))


def kinds(engine: Engine, member_id: int | None = None) -> list[str]:
    return [e["kind"] for e in events(engine, member_id=member_id)]


def test_registration_records_the_welcome_and_its_points(seeded: Engine) -> None:
    member_id = register(seeded)
    found = events(seeded, member_id=member_id)
    assert [e["kind"] for e in found] == ["member.registered", "points.earned"]
    welcome, bonus = found
    assert welcome["occurred_at"] == REGISTERED_AT.isoformat()
    assert bonus["data"]["points"] == 500 and bonus["data"]["balance"] == 500
    assert bonus["data"]["source"] == "action.registration"


def test_an_order_records_what_it_earned_and_spent_with_the_balance_after(seeded: Engine, member: int) -> None:
    before = len(events(seeded))
    earning = confirm(seeded, order("o-1", ("tv", "2000.00", 1), member=MEMBER))
    spending = confirm(seeded, order("o-2", ("tv", "2000.00", 1), member=MEMBER, points=300))
    new = events(seeded)[before:]
    assert [e["kind"] for e in new] == ["points.earned", "points.spent"]
    earned, spent = new
    assert earned["data"]["order_id"] == "o-1"
    assert earned["data"]["points"] == earning["points_to_earn"] > 0
    assert earned["data"]["balance"] == 500 + earning["points_to_earn"]
    assert earned["data"]["available_at"] is not None
    assert spent["data"] == {"order_id": "o-2", "points": 300, "balance": 500 + earning["points_to_earn"] - 300}
    assert spending["points_applied"] == 300
    assert all(e["member_id"] == member for e in new)


@pytest.mark.usefixtures("member")
def test_a_refused_order_records_no_event(seeded: Engine) -> None:
    before = events(seeded)
    with pytest.raises(LoyaltyError):
        confirm(seeded, order("o-9", ("tv", "2000.00", 1), member=MEMBER, points=100_000))
    assert events(seeded) == before


def test_a_return_records_the_points_taken_and_given_back(seeded: Engine, member: int) -> None:
    confirm(seeded, order("o-3", ("tv", "2000.00", 1), ("cable", "100.00", 2), member=MEMBER, points=200))
    result = return_lines(seeded, "o-3", "r-1", [("1", 1)])
    returned = events(seeded, member_id=member)[-1]
    assert returned["kind"] == "order.returned"
    assert returned["data"]["points_given_back"] == result["points_given_back"] > 0
    assert returned["data"]["points_taken_back"] == result["points_taken_back"]  # earn or spend: it earned none
    assert returned["data"]["balance"] == result["balance"]


def test_expiry_warnings_are_recorded_once_per_account_and_expiry(seeded: Engine, member: int) -> None:
    expires = REGISTERED_AT + timedelta(days=365)
    assert jobs.warn_expiring(seeded, expires - timedelta(days=31), NOW) == {"accounts": 0, "points": 0}
    as_of = expires - timedelta(days=20)
    assert jobs.warn_expiring(seeded, as_of, NOW) == {"accounts": 1, "points": 500}
    jobs.warn_expiring(seeded, as_of + timedelta(days=1), NOW)  # again, a day later: already announced
    warnings = [e for e in events(seeded, member_id=member) if e["kind"] == "points.expiring"]
    assert len(warnings) == 1
    assert warnings[0]["data"] == {"points": 500, "lots": 1, "expires_at": expires.isoformat()}


def test_expiry_and_activation_are_recorded(seeded: Engine, member: int) -> None:
    adjust(seeded, member, 100)
    expires = REGISTERED_AT + timedelta(days=365)
    jobs.expire(seeded, expires, expires)
    expired = events(seeded, member_id=member)[-1]
    assert expired["kind"] == "points.expired"
    assert expired["data"]["points"] == 500 and expired["data"]["balance"] == 100

    confirm(seeded, order("o-4", ("tv", "2000.00", 1), member=MEMBER))
    available_at = events(seeded, member_id=member)[-1]["data"]["available_at"]
    assert available_at is not None
    unlock = datetime.fromisoformat(available_at)
    jobs.activate(seeded, unlock, unlock)
    available = events(seeded, member_id=member)[-1]
    assert available["kind"] == "points.available"
    assert available["data"] == {"points": 100, "lots": 1}  # the order's 5% of 2000.00; not the adjustment's lot
    # The welcome points were spendable from the start: their activation announced nothing.
    assert kinds(seeded, member).count("points.available") == 1


def test_a_tier_reached_by_an_order_is_recorded(engine: Engine) -> None:
    tiers = {
        "levels": [{"id": "silver", "name": "Silver", "from": "0"}, {"id": "gold", "name": "Gold", "from": "1000"}]
    }
    publish(engine, seed_program(tiers=tiers))
    register(engine)
    confirm(engine, order("o-5", ("tv", "2000.00", 1), member=MEMBER))
    changed = [e for e in events(engine) if e["kind"] == "tier.changed"]
    assert len(changed) == 1
    assert changed[0]["data"]["to_tier"] == "gold" and changed[0]["data"]["direction"] == "up"


def test_publishing_a_version_records_the_change_of_terms(seeded: Engine) -> None:
    publish(seeded, seed_program(name="Next year"), NOW + timedelta(days=30))
    terms = [e for e in events(seeded) if e["kind"] == "terms.changed"]
    assert [e["data"]["version"] for e in terms] == [1, 2]
    assert terms[1]["member_id"] is None
    assert terms[1]["data"]["effective_from"] == (NOW + timedelta(days=30)).isoformat()


@pytest.mark.usefixtures("member")
def test_events_page_by_id(seeded: Engine) -> None:
    everything = events(seeded)
    first = events(seeded, limit=1)
    assert first == everything[:1]
    assert events(seeded, after=first[0]["event_id"]) == everything[1:]
    assert [e["kind"] for e in events(seeded, kinds=[EventKind.MEMBER_REGISTERED])] == ["member.registered"]
