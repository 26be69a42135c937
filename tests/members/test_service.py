"""Members on both databases: registration with its 500-point bonus, lookup by any identifier, duplicates and bad
profiles refused without writing anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from loyalty.core.errors import Conflict, InvalidInput
from loyalty.members import service as members
from tests.usecases import (
    NOW,
    PHONE,
    REGISTERED_AT,
    balance,
    confirm,
    entries,
    lots,
    order,
    publish,
    read,
    register,
    run,
    seed_program,
    snapshot,
    violations,
)


def test_registration_grants_500_points_spendable_at_once(seeded: Engine) -> None:
    member_id = register(seeded, name="Anna", email="Anna@Example.com", consents={"email": True, "sms": False})
    figures = balance(seeded, member_id, REGISTERED_AT)
    assert (figures["balance"], figures["available"], figures["pending"]) == (500, 500, 0)
    (entry,) = entries(seeded, member_id)
    assert (entry["kind"], entry["points"], entry["rule"], entry["event_id"], entry["program_version"]) == (
        "action",
        500,
        "action.registration",
        f"member-{member_id}",
        1,
    )
    (lot,) = lots(seeded, member_id).values()
    assert (lot.points, lot.remaining, lot.available_at) == (500, 500, REGISTERED_AT)
    assert lot.expires_at == REGISTERED_AT + timedelta(days=365)
    profile = read(seeded, lambda uow: members.profile(uow, member_id))
    assert profile["identifiers"] == {"phone": PHONE, "email": "anna@example.com"}
    assert profile["consents"]["email"]["granted"] is True
    assert profile["consents"]["sms"]["granted"] is False
    assert violations(seeded) == []


@pytest.mark.parametrize(
    "reference",
    [
        {"phone": "8 912 345-67-89"},
        {"phone": "+7 (912) 345 67 89"},
        {"phone": "+79123456789"},
        {"email": "ANNA@example.com"},
        {"card": "CARD-0001"},
        {"external_id": "crm-42"},
    ],
)
def test_a_member_is_found_by_any_identifier(seeded: Engine, reference: dict[str, str]) -> None:
    member_id = register(seeded, email="anna@example.com", card="CARD-0001", external_id="crm-42")
    register(seeded, "+79123456780")  # somebody else
    assert read(seeded, lambda uow: members.resolve(uow, reference)) == member_id
    result = confirm(seeded, order("o1", ("tv", "10000", 1), member=reference))
    assert result["member_id"] == member_id
    assert balance(seeded, member_id)["balance"] == 1000


def test_a_taken_identifier_is_a_conflict_that_writes_nothing(seeded: Engine) -> None:
    register(seeded, email="anna@example.com")
    before = snapshot(seeded)
    with pytest.raises(Conflict):
        register(seeded, "+79123456780", email="ANNA@example.com")
    with pytest.raises(Conflict):
        register(seeded, "8 (912) 345-67-89")
    assert snapshot(seeded) == before


@pytest.mark.parametrize(
    ("data", "paths"),
    [
        ({"phone": "12"}, ["phone"]),
        ({"phone": "+79123456789", "email": "not-an-email"}, ["email"]),
        ({"phone": "+79123456789", "gender": "x"}, ["gender"]),
        ({"phone": "+79123456789", "birth_date": "31.12.1990"}, ["birth_date"]),
        ({"phone": "+79123456789", "consents": {"carrier_pigeon": True}}, ["consents.carrier_pigeon"]),
        ({"phone": "+79123456789", "consents": {"sms": "yes"}}, ["consents.sms"]),
        ({"name": "Nobody"}, [""]),
        ({"phone": "12", "email": "@", "gender": "x"}, ["phone", "email", "gender"]),
    ],
)
def test_a_bad_profile_names_every_bad_field(data: dict[str, object], paths: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        members.parse_member(data)
    assert [p.path for p in caught.value.problems] == paths


def test_registration_without_a_registration_bonus_gives_nothing(engine: Engine) -> None:
    publish(engine, seed_program(actions={}))
    member_id = register(engine)
    assert balance(engine, member_id)["balance"] == 0
    assert entries(engine, member_id) == []


def test_registration_before_any_program_gives_nothing(engine: Engine) -> None:
    member_id = register(engine)
    assert balance(engine, member_id)["balance"] == 0
    assert violations(engine) == []


def test_the_bonus_follows_the_version_in_force_at_registration(seeded: Engine) -> None:
    publish(seeded, seed_program(actions={"registration": {"points": 300}}), NOW)
    before = register(seeded, at=NOW - timedelta(seconds=1))
    after = register(seeded, "+79123456780", at=NOW)
    assert balance(seeded, before)["balance"] == 500
    assert balance(seeded, after)["balance"] == 300


def test_unknown_member_reference_names_the_field(seeded: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        run(seeded, lambda uow: members.resolve(uow, {"email": "nobody@example.com"}))
    assert [p.path for p in caught.value.problems] == ["member.email"]
    with pytest.raises(InvalidInput) as caught:
        run(seeded, lambda uow: members.resolve(uow, {"member_id": "7"}))
    assert [p.path for p in caught.value.problems] == ["member.member_id"]
    with pytest.raises(InvalidInput) as caught:
        run(seeded, lambda uow: members.resolve(uow, {"phone": PHONE, "email": "a@b.c"}))
    assert [p.path for p in caught.value.problems] == ["member"]
