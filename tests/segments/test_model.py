"""Segment definitions: validation naming each field, and each condition over a member's facts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.core.errors import InvalidInput
from loyalty.segments.document import CONDITIONS, Reading, check_segment, read_conditions
from loyalty.segments.model import AsOf, MemberFacts, SegmentDefinition, quintile

MOSCOW = ZoneInfo("Europe/Moscow")
AT = AsOf(datetime(2026, 11, 1, 9, 0, tzinfo=UTC), MOSCOW)  # 12:00 on 1 November in Moscow
TIERS = frozenset({"silver", "gold", "platinum"})


def parse_conditions(
    conditions: object, known_tiers: frozenset[str] | None = TIERS, check_tiers: bool = True
) -> SegmentDefinition:
    return read_conditions(conditions, Reading(2, known_tiers, check_tiers))


def matches(conditions: list[dict[str, Any]], facts: MemberFacts, at: AsOf = AT) -> bool:
    return parse_conditions(conditions).matches(facts, at)


def problems(conditions: object, **options: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        parse_conditions(conditions, **options)
    return [(p.path, p.reason) for p in caught.value.problems]


def buyer(count: int, spend_roubles: int, **facts: Any) -> MemberFacts:
    return MemberFacts(1, purchase_count=count, total_spend=spend_roubles * 100, **facts)


def test_the_seed_segment_usually_buys_for_about_800_roubles() -> None:
    around_800 = [{"average_check": {"min": "700", "max": "900"}}]
    assert matches(around_800, buyer(3, 2400))  # 800 on average
    assert matches(around_800, buyer(2, 1400))  # exactly 700: the band is inclusive
    assert matches(around_800, buyer(2, 1800))  # exactly 900
    assert matches(around_800, MemberFacts(1, 2, 179_999))  # 899.995 is inside
    assert not matches(around_800, MemberFacts(1, 2, 180_001))  # 900.005 is not
    assert not matches(around_800, buyer(1, 1000))
    assert not matches(around_800, MemberFacts(1))  # never bought: no average check


def test_average_check_is_compared_exactly_without_rounding() -> None:
    band = [{"average_check": {"min": "0.34"}}]
    assert not matches(band, MemberFacts(1, 3, 101))  # 1.01 / 3 = 0.3366...: below 0.34
    assert matches(band, MemberFacts(1, 3, 102))  # exactly 0.34


def test_quintiles_cover_one_to_five_and_ties_share_a_score() -> None:
    assert [quintile(rank, 10) for rank in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [quintile(rank, 4) for rank in range(1, 5)] == [1, 2, 3, 4]
    assert quintile(1, 1) == 1


@given(st.integers(1, 10_000), st.data())
def test_a_quintile_is_between_one_and_five_and_never_falls_as_the_rank_rises(population: int, data: Any) -> None:
    rank = data.draw(st.integers(1, population))
    assert 1 <= quintile(rank, population) <= 5
    assert rank == population or quintile(rank, population) <= quintile(rank + 1, population)


def test_rfm_scores_and_members_without_purchases() -> None:
    champion = MemberFacts(1, 9, 90_000, recency_score=5, frequency_score=5, monetary_score=4)
    rfm = [{"recency_score": {"min": 4}}, {"frequency_score": {"min": 4, "max": 5}}, {"monetary_score": {"max": 4}}]
    assert matches(rfm, champion)
    assert not matches(rfm, MemberFacts(1, 9, 90_000, recency_score=3, frequency_score=5, monetary_score=4))
    assert not matches([{"recency_score": {"max": 5}}], MemberFacts(1))


def test_days_since_the_last_purchase_count_calendar_days_in_the_program_time_zone() -> None:
    inactive = [{"days_since_last_purchase": {"min": 90}}]
    # 23:30 UTC on 2 August is 02:30 on 3 August in Moscow: 90 days before 1 November.
    assert matches(inactive, MemberFacts(1, 1, 100, last_purchase_at=datetime(2026, 8, 2, 23, 30, tzinfo=UTC)))
    assert not matches(inactive, MemberFacts(1, 1, 100, last_purchase_at=datetime(2026, 8, 3, 21, 30, tzinfo=UTC)))
    assert not matches(inactive, MemberFacts(1))  # never bought: not "inactive", see purchase_count
    assert matches([{"purchase_count": {"max": 0}}], MemberFacts(1))


def test_purchase_count_and_total_spend() -> None:
    assert matches([{"purchase_count": {"min": 2, "max": 2}}, {"total_spend": {"min": "15000"}}], buyer(2, 15000))
    assert not matches([{"total_spend": {"min": "15000"}}], MemberFacts(1, 2, 1_499_999))


def test_tier_gender_city_and_birthday_month() -> None:
    anna = MemberFacts(1, tier="gold", gender="female", birth_date=date(1990, 11, 5), attributes={"city": " Moscow "})
    assert matches([{"tier": ["gold", "platinum"]}, {"gender": "female"}, {"city": ["moscow", "Kazan"]}], anna)
    assert matches([{"birthday_month": [11, 12]}], anna)
    assert matches([{"birthday_month": 11}], anna)
    assert not matches([{"tier": "silver"}], anna)
    assert not matches([{"gender": ["male", "other"]}], anna)
    assert not matches([{"city": "Kazan"}], anna)
    assert not matches([{"city": "Moscow"}], MemberFacts(1, attributes={"city": 77}))
    assert not matches([{"birthday_month": 11}], MemberFacts(1))


def test_age_in_whole_years_on_the_local_date_and_29_february() -> None:
    adult = [{"age": {"min": 18}}]
    assert matches(adult, MemberFacts(1, birth_date=date(2008, 11, 1)))  # 18 today
    assert not matches(adult, MemberFacts(1, birth_date=date(2008, 11, 2)))  # 18 tomorrow
    assert not matches(adult, MemberFacts(1))  # no birth date: no age
    leap = MemberFacts(1, birth_date=date(2008, 2, 29))
    feb_28 = AsOf(datetime(2026, 2, 28, 12, tzinfo=UTC), MOSCOW)
    mar_1 = AsOf(datetime(2026, 3, 1, 12, tzinfo=UTC), MOSCOW)
    assert matches([{"age": {"max": 17}}], leap, feb_28)
    assert matches([{"age": {"min": 18, "max": 18}}], leap, mar_1)


def test_consents_granted_or_not() -> None:
    member = MemberFacts(1, consents=frozenset({"email", "personal_data"}))
    assert matches([{"consent": {"email": True}}], member)
    assert matches([{"consent": {"email": True, "sms": False}}], member)
    assert not matches([{"consent": {"sms": True}}], member)


def test_custom_attributes_must_be_equal_in_value_and_type() -> None:
    member = MemberFacts(1, attributes={"vip": True, "store": "north", "visits": 1})
    assert matches([{"attributes": {"vip": True, "store": "north"}}], member)
    assert not matches([{"attributes": {"visits": True}}], member)  # true is not 1
    assert not matches([{"attributes": {"visits": "1"}}], member)
    assert matches([{"attributes": {"visits": 1, "missing": None}}], member)


def test_every_condition_must_hold() -> None:
    conditions = [{"gender": "female"}, {"purchase_count": {"min": 1}}]
    assert not matches(conditions, MemberFacts(1, gender="female"))
    assert matches(conditions, MemberFacts(1, 1, 100, gender="female"))


def test_bad_definitions_name_each_field_and_reason() -> None:
    found = problems(
        [
            {"average_check": {"min": "900", "max": "700"}},
            {"colour": "red"},
            {"tier": ["gold", "diamond"]},
            {"total_spend": {"min": "12.345"}},
            {"average_check": {"min": 800}},
            {"age": {"min": -1}},
            {"recency_score": {"min": 6}},
            {"gender": "robot"},
            {"consent": {"fax": True}},
            {"birthday_month": [0, 12]},
            {"purchase_count": {}},
            {"tier": "gold", "gender": "female"},
            {"attributes": {"weight": "70.5", "height": 1.8}},
            {"total_spend": {"max": 1.5}},
        ]
    )
    assert found == [
        ("conditions[0].average_check", "min 900.00 is greater than max 700.00"),
        ("conditions[1].colour", f"unknown condition; expected one of {list(CONDITIONS)}"),
        ("conditions[2].tier", "unknown tier 'diamond'; the program's tiers are ['gold', 'platinum', 'silver']"),
        ("conditions[3].total_spend.min", "12.345 has more than 2 decimal places"),
        ("conditions[5].age.min", "must be between 0 and 150, got -1"),
        ("conditions[6].recency_score.min", "must be between 1 and 5, got 6"),
        ("conditions[7].gender", "unknown value 'robot'; expected one of ['female', 'male', 'other']"),
        ("conditions[8].consent.fax", "unknown consent; expected one of ['personal_data', 'email', 'sms']"),
        ("conditions[9].birthday_month[0]", "must be between 1 and 12, got 0"),
        ("conditions[10].purchase_count", "must be a mapping with min, max or both"),
        (
            "conditions[11]",
            'must be a mapping of exactly one condition to its argument, such as {"tier": ["gold"]}',
        ),
        ("conditions[12].attributes.height", "must be a string, an integer, true, false or null"),
        ("conditions[13].total_spend.max", 'must be a decimal string such as "10.50" or an integer, not a float'),
    ]


def test_a_tier_needs_a_program_with_tiers_and_a_definition_needs_conditions() -> None:
    assert problems([{"tier": "gold"}], known_tiers=None) == [
        ("conditions[0].tier", "the published program has no tiers")
    ]
    assert problems([])[0][0] == "conditions"
    assert problems({"tier": "gold"})[0][0] == "conditions"
    assert problems([{"average_check": {"min": "abc"}}]) == [
        ("conditions[0].average_check.min", "'abc' is not a number")
    ]


def test_a_stored_definition_is_read_again_without_checking_tiers() -> None:
    definition = parse_conditions([{"tier": "diamond"}], known_tiers=None, check_tiers=False)
    assert not definition.matches(MemberFacts(1, tier="gold"), AT)


def test_segment_ids_and_names() -> None:
    assert check_segment("check-800", " Around 800 ") == ("check-800", "Around 800")
    with pytest.raises(InvalidInput) as caught:
        check_segment("Check 800", "")
    assert [p.path for p in caught.value.problems] == ["segment_id", "name"]
