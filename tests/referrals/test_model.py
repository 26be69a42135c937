"""Referrals in the pure domain: the `referrals` section of the program document, the codes members share, and
the decisions — who may name whom as their referrer, and when a referrer's cap turns a referral void."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.core.errors import Conflict, InvalidInput
from loyalty.program.document import parse_program
from loyalty.program.model import ReferralPolicy
from loyalty.referrals.model import (
    CODE_ALPHABET,
    CODE_LENGTH,
    AttachRequest,
    cap_reached,
    check_attach,
    new_code,
    normalise_code,
)

BASE: dict[str, Any] = {
    "name": "Referrals",
    "earning": {"pending_days": 14, "rules": [{"id": "base", "percent": 5}]},
}
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def program(**referrals: Any) -> Any:
    return parse_program({**BASE, "referrals": referrals})


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as error:
        parse_program(document)
    return {p.path: p.reason for p in error.value.problems}


# The document


def test_a_program_without_the_section_has_no_referral_scheme() -> None:
    assert parse_program(BASE).referrals is None


def test_the_section_with_every_field() -> None:
    parsed = program(
        new_member_points=300,
        referrer_points=500,
        return_window_days=30,
        max_per_referrer=10,
        max_per_referrer_per_month=3,
        attach_within_days=7,
        pending_days=2,
    )
    assert parsed.referrals == ReferralPolicy(300, 500, 30, 10, 3, 7, 2)


def test_defaults_window_from_the_earning_pending_days_and_no_caps() -> None:
    assert program(referrer_points=500).referrals == ReferralPolicy(
        new_member_points=0,
        referrer_points=500,
        return_window_days=14,
        max_per_referrer=None,
        max_per_referrer_per_month=None,
        attach_within_days=30,
        pending_days=0,
    )


def test_a_zero_window_is_allowed() -> None:
    referrals = program(new_member_points=100, return_window_days=0).referrals
    assert referrals is not None
    assert referrals.return_window_days == 0


def test_every_bad_field_is_reported_with_its_path() -> None:
    found = problems(
        {
            **BASE,
            "referrals": {
                "new_member_points": -1,
                "referrer_points": "500",
                "return_window_days": 1.5,
                "max_per_referrer": 0,
                "max_per_referrer_per_month": True,
                "attach_within_days": -3,
                "pending_days": 4000,
                "bonus": 1,
            },
        }
    )
    assert found == {
        "referrals.new_member_points": "must be at least 0, got -1",
        "referrals.referrer_points": "must be an integer",
        "referrals.return_window_days": "must be an integer",
        "referrals.max_per_referrer": "must be at least 1, got 0",
        "referrals.max_per_referrer_per_month": "must be an integer",
        "referrals.attach_within_days": "must be at least 0, got -3",
        "referrals.pending_days": "must be at most 3650, got 4000",
        "referrals.bonus": found["referrals.bonus"],
    }
    assert found["referrals.bonus"].startswith("unknown field")


def test_a_scheme_that_gives_nothing_is_refused() -> None:
    assert problems({**BASE, "referrals": {"return_window_days": 14}}) == {
        "referrals": "gives no points: set new_member_points, referrer_points or both"
    }


def test_a_monthly_cap_above_the_lifetime_cap_is_refused() -> None:
    found = problems(
        {**BASE, "referrals": {"referrer_points": 5, "max_per_referrer": 2, "max_per_referrer_per_month": 3}}
    )
    assert found == {"referrals.max_per_referrer_per_month": "must not exceed max_per_referrer (2)"}


def test_the_section_must_be_a_mapping() -> None:
    assert problems({**BASE, "referrals": [1]}) == {"referrals": "must be a mapping"}


def test_problems_elsewhere_are_reported_together() -> None:
    found = problems({**BASE, "currency": "rub", "referrals": {"referrer_points": -5}})
    assert set(found) == {"currency", "referrals.referrer_points"}


# Codes


def test_new_codes_use_the_unambiguous_alphabet() -> None:
    codes = {new_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(CODE_ALPHABET)
        assert not set(code) & set("01OIL")


@given(st.text(alphabet=CODE_ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH))
def test_a_code_typed_in_lower_case_with_dashes_and_spaces_is_the_same_code(code: str) -> None:
    typed = f" {code[:4].lower()}-{code[4:]} "
    assert normalise_code(typed, "referral_code") == code


@pytest.mark.parametrize("value", ["", "ABC", "K7QM2XHD9", "K7QM2XH0", "K7QM2XHI", 12345678, None])
def test_what_is_not_a_code_is_refused_at_its_path(value: object) -> None:
    with pytest.raises(InvalidInput) as error:
        normalise_code(value, "referral_code")
    assert [p.path for p in error.value.problems] == ["referral_code"]
    assert "referral code" in error.value.problems[0].reason


# Attaching a referrer after registering

POLICY = ReferralPolicy(new_member_points=300, referrer_points=500, return_window_days=14, attach_within_days=30)


def request(**changes: Any) -> AttachRequest:
    fields: dict[str, Any] = {
        "member_id": 5,
        "referrer_id": 2,
        "referrer_chain": [1],
        "current_referrer": None,
        "registered_at": NOW - timedelta(days=3),
        "has_confirmed_order": False,
    }
    fields.update(changes)
    return AttachRequest(**fields)


def test_a_new_member_may_name_a_referrer() -> None:
    check_attach(request(), POLICY, NOW)


def test_self_referral_is_refused_at_the_code() -> None:
    with pytest.raises(InvalidInput) as error:
        check_attach(request(referrer_id=5), POLICY, NOW)
    assert error.value.problems[0].path == "code"
    assert "own referral code" in error.value.problems[0].reason


@pytest.mark.parametrize("chain", [[5], [3, 5], [3, 4, 5, 6]])
def test_a_referrer_referred_by_the_member_directly_or_through_others_is_a_loop(chain: list[int]) -> None:
    with pytest.raises(InvalidInput) as error:
        check_attach(request(referrer_chain=chain), POLICY, NOW)
    assert "loop" in error.value.problems[0].reason


def test_a_second_referrer_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="already referred by member 7"):
        check_attach(request(current_referrer=7), POLICY, NOW)


def test_the_code_can_be_added_until_the_end_of_the_attach_window_and_not_after() -> None:
    registered = NOW - timedelta(days=30)
    check_attach(request(registered_at=registered), POLICY, NOW)
    with pytest.raises(Conflict, match="within 30 days"):
        check_attach(request(registered_at=registered - timedelta(seconds=1)), POLICY, NOW)


def test_after_a_first_confirmed_order_it_is_too_late() -> None:
    with pytest.raises(Conflict, match="before the member's first confirmed order"):
        check_attach(request(has_confirmed_order=True), POLICY, NOW)


# Caps


def test_caps_lifetime_and_per_month() -> None:
    capped = ReferralPolicy(referrer_points=500, max_per_referrer=3, max_per_referrer_per_month=2)
    assert cap_reached(capped, 0, 0) is None
    assert cap_reached(capped, 2, 1) is None
    assert cap_reached(capped, 2, 2) == "cap reached for the month"
    assert cap_reached(capped, 3, 0) == "cap reached"
    assert cap_reached(ReferralPolicy(referrer_points=500), 10**6, 10**6) is None
