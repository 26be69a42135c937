"""The program document a marketer writes: what it means once parsed, and how a bad one is refused, with the path
of every wrong field so the whole document can be fixed in one pass."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.core.errors import InvalidInput
from loyalty.core.money import Rounding
from loyalty.program.document import parse_program
from loyalty.program.model import CapPeriod, ExpiryKind, ExpiryStart, Program, Shortfall
from loyalty.program.rules import (
    Band,
    BandsEffect,
    CategoryCondition,
    ChannelCondition,
    MinimumOrderCondition,
    PercentEffect,
    PerStepEffect,
)

SEED: dict[str, Any] = {
    "name": "Seed program",
    "currency": "RUB",
    "point_value": "1",
    "timezone": "Europe/Moscow",
    "earning": {
        "rules": [
            {"id": "base", "name": "Cashback 5%", "percent": 5},
            {
                "id": "bands",
                "bands": [{"up_to": "1000", "percent": 5}, {"up_to": "2000", "percent": 10}],
                "channels": ["online"],
            },
            {"id": "steps", "per_step": {"every": "1000", "points": 1000}, "categories": ["cosmetics"]},
            {"id": "big-orders", "percent": "2.5", "min_order_amount": "5000", "max_points_per_order": 300},
        ],
        "excluded_categories": ["delivery", "gift_card"],
        "rounding": "down",
        "pending_days": 14,
    },
    "redemption": {
        "min_check": "1000",
        "max_share_percent": 99,
        "excluded_categories": ["gift_card"],
        "earn_or_spend": True,
    },
    "expiry": {"after_days": 365},
    "actions": {
        "registration": {"points": 500},
        "review": {"points": 50, "cap": {"count": 3, "per": "month"}},
    },
    "returns": {"shortfall": "record_shortfall"},
}


def seed(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(SEED)
    document.update(changes)
    return document


def problems_of(document: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        parse_program(document)
    return [(p.path, p.reason) for p in caught.value.problems]


def paths_of(document: object) -> list[str]:
    return [path for path, _ in problems_of(document)]


# --- what a valid document means ---------------------------------------------------------------------------------


def test_the_seed_document_reads_as_the_marketer_wrote_it() -> None:
    program = parse_program(SEED)
    assert program.name == "Seed program"
    assert (program.currency, program.exponent, program.point_value) == ("RUB", 2, 100)
    assert program.timezone == ZoneInfo("Europe/Moscow")

    earning = program.earning
    assert [r.id for r in earning.rules] == ["base", "bands", "steps", "big-orders"]
    assert earning.excluded_categories == {"delivery", "gift_card"}
    assert earning.rounding is Rounding.DOWN
    assert earning.pending_days == 14
    base = program.rule("base")
    assert base is not None and base.name == "Cashback 5%"
    assert base.effect == PercentEffect(Decimal(5))
    bands = program.rule("bands")
    assert bands is not None
    assert bands.effect == BandsEffect((Band(100000, Decimal(5)), Band(200000, Decimal(10))))
    assert bands.conditions == (ChannelCondition(frozenset({"online"})),)
    steps = program.rule("steps")
    assert steps is not None
    assert steps.effect == PerStepEffect(100000, 1000)
    assert steps.conditions == (CategoryCondition(frozenset({"cosmetics"})),)
    big = program.rule("big-orders")
    assert big is not None
    assert big.conditions == (MinimumOrderCondition(500000),)
    assert big.max_points_per_order == 300

    redemption = program.redemption
    assert redemption.min_check == 100000
    assert redemption.max_share == Decimal("0.99")
    assert redemption.excluded_categories == {"gift_card"}
    assert redemption.earn_or_spend is True

    assert program.expiry.kind is ExpiryKind.AFTER_DAYS
    assert program.expiry.days == 365
    assert program.expiry.starts is ExpiryStart.ACCRUAL

    registration = program.actions["registration"]
    assert (registration.points, registration.cap_count, registration.cap_period) == (500, 1, CapPeriod.LIFETIME)
    review = program.actions["review"]
    assert (review.points, review.cap_count, review.cap_period) == (50, 3, CapPeriod.MONTH)
    assert program.shortfall is Shortfall.RECORD_SHORTFALL


def test_a_minimal_document_gets_the_documented_defaults() -> None:
    program = parse_program({"name": "Minimal"})
    assert (program.currency, program.exponent, program.point_value) == ("RUB", 2, 100)
    assert program.timezone == ZoneInfo("UTC")
    assert program.earning.rules == ()
    assert program.earning.rounding is Rounding.DOWN
    assert program.earning.pending_days == 0
    assert program.earning.members_only is True
    assert program.redemption.min_check == 0
    assert program.redemption.max_share == 1
    assert program.redemption.earn_or_spend is False
    assert program.expiry.kind is ExpiryKind.NEVER
    assert program.actions == {}
    assert program.shortfall is Shortfall.NEGATIVE_BALANCE


def test_the_point_value_is_in_money_of_the_currency() -> None:
    assert parse_program(seed(point_value="0.5")).point_value == 50
    assert parse_program(seed(currency="JPY", point_value="1")).point_value == 1
    assert parse_program(seed(currency="KWD", point_value="0.1")).point_value == 100


def test_a_fifty_percent_share_is_one_half() -> None:
    program = parse_program(seed(redemption={"max_share_percent": 50}))
    assert program.redemption.max_share == Decimal("0.5")


def test_fixed_date_expiry_documents() -> None:
    every_year = parse_program(seed(expiry={"every_year_on": "11-30"})).expiry
    assert (every_year.kind, every_year.month, every_year.day) == (ExpiryKind.FIXED_DATE, 11, 30)
    on_date = parse_program(seed(expiry={"on_date": "2026-11-30"})).expiry
    assert (on_date.kind, on_date.on_date) == (ExpiryKind.FIXED_DATE, date(2026, 11, 30))
    # YAML reads an unquoted date as a date object; it means the same.
    assert parse_program(seed(expiry={"on_date": date(2026, 11, 30)})).expiry == on_date
    assert parse_program(seed(expiry={"every_year_on": "02-29"})).expiry.day == 29
    assert parse_program(seed(expiry="never")).expiry.kind is ExpiryKind.NEVER
    available = parse_program(seed(expiry={"after_days": 180, "starts": "available"})).expiry
    assert available.starts is ExpiryStart.AVAILABLE


def test_an_open_ended_last_band_is_allowed() -> None:
    program = parse_program(
        seed(earning={"rules": [{"id": "b", "bands": [{"up_to": "1000", "percent": 5}, {"percent": 10}]}]})
    )
    rule = program.rule("b")
    assert rule is not None
    assert rule.effect == BandsEffect((Band(100000, Decimal(5)), Band(None, Decimal(10))))


def test_an_action_cap_without_a_count_is_unlimited() -> None:
    program = parse_program(seed(actions={"email_open": {"points": 1, "cap": {"count": None, "per": "day"}}}))
    assert program.actions["email_open"].cap_count is None


@pytest.mark.parametrize("cap", ["unlimited", None, {"count": None}])
def test_an_unlimited_action_cap_is_written_as_such(cap: object) -> None:
    program = parse_program(seed(actions={"survey": {"points": 1, "cap": cap}}))
    assert program.actions["survey"].cap_count is None
    assert program.actions["survey"].cap_text() == "unlimited"


def test_an_action_without_a_cap_earns_once_per_lifetime_and_says_it_is_the_default() -> None:
    program = parse_program(seed(actions={"photo": {"points": 1}, "quiz": {"points": 1, "cap": {"per": "lifetime"}}}))
    assert program.actions["photo"].cap_count == 1
    assert program.actions["photo"].cap_text() == "once per lifetime (the default when no cap is given)"
    assert program.actions["quiz"].cap_text() == "once per lifetime"


# --- what a bad document gets back -------------------------------------------------------------------------------


def rule(**fields: Any) -> dict[str, Any]:
    return seed(earning={"rules": [{"id": "r", **fields}]})


@pytest.mark.parametrize(
    ("document", "path", "reason"),
    [
        (rule(percent=150), "earning.rules[0].percent", "between 0 and 100"),
        (rule(percent=-1), "earning.rules[0].percent", "between 0 and 100"),
        (rule(percent=5.5), "earning.rules[0].percent", "not a float"),
        (rule(percent="five"), "earning.rules[0].percent", "not a number"),
        (rule(fixed_points=0), "earning.rules[0].fixed_points", "at least 1"),
        (rule(per_step={"every": "0", "points": 1000}), "earning.rules[0].per_step.every", "greater than zero"),
        (rule(per_step={"every": "1000"}), "earning.rules[0].per_step.points", "is required"),
        (rule(percent=5, max_points_per_order=0), "earning.rules[0].max_points_per_order", "at least 1"),
        (rule(percent=5, categories=[]), "earning.rules[0].categories", "non-empty list"),
        (rule(percent=5, min_order_amount="-5"), "earning.rules[0].min_order_amount", "negative"),
        (rule(bands=[]), "earning.rules[0].bands", "non-empty list"),
        (rule(bands=[{"up_to": "1000"}]), "earning.rules[0].bands[0].percent", "is required"),
        (seed(expiry={"after_days": 0}), "expiry.after_days", "at least 1"),
        (seed(expiry={"after_days": -365}), "expiry.after_days", "at least 1"),
        (seed(expiry={"after_days": "365"}), "expiry.after_days", "must be an integer"),
        (seed(expiry={"after_days": True}), "expiry.after_days", "must be an integer"),
        (seed(expiry={"after_days": 365, "on_date": "2026-11-30"}), "expiry", "exactly one"),
        (seed(expiry={}), "expiry", "exactly one"),
        (seed(expiry={"every_year_on": "13-01"}), "expiry.every_year_on", "not a real month and day"),
        (seed(expiry={"every_year_on": "02-30"}), "expiry.every_year_on", "not a real month and day"),
        (seed(expiry={"every_year_on": "30.11"}), "expiry.every_year_on", "MM-DD"),
        (seed(expiry={"on_date": "2026-02-30"}), "expiry.on_date", "not a date"),
        (seed(expiry={"after_days": 365, "starts": "later"}), "expiry.starts", "accrual"),
        (seed(redemption={"max_share_percent": 101}), "redemption.max_share_percent", "between 0 and 100"),
        (seed(redemption={"max_share_percent": -1}), "redemption.max_share_percent", "between 0 and 100"),
        (seed(redemption={"max_share_percent": 99.5}), "redemption.max_share_percent", "not a float"),
        (seed(redemption={"min_check": "-1000"}), "redemption.min_check", "negative"),
        (seed(redemption={"min_check": "1000.001"}), "redemption.min_check", "decimal places"),
        (seed(redemption={"min_check": "1e999999999"}), "redemption.min_check", "too large"),
        (seed(redemption={"earn_or_spend": "yes"}), "redemption.earn_or_spend", "true or false"),
        (seed(redemption={"excluded_categories": "gift_card"}), "redemption.excluded_categories", "list"),
        (seed(earning={"rules": {"id": "base"}}), "earning.rules", "must be a list"),
        (seed(earning={"rules": [None]}), "earning.rules[0]", "must be a rule"),  # an empty "- " item in YAML
        (seed(earning={"rules": ["base"]}), "earning.rules[0]", "must be a mapping"),
        (seed(earning={"rounding": "bankers"}), "earning.rounding", "half_up"),
        (seed(earning={"pending_days": -1}), "earning.pending_days", "at least 0"),
        (seed(earning={"members_only": "no"}), "earning.members_only", "true or false"),
        (seed(point_value="0"), "point_value", "greater than zero"),
        (seed(point_value="0.001"), "point_value", "decimal places"),
        (seed(point_value=1.0), "point_value", "not a float"),
        (seed(currency="rub"), "currency", "ISO 4217"),
        (seed(timezone="Mars/Olympus"), "timezone", "IANA"),
        (seed(timezone="Europe"), "timezone", "IANA"),
        (seed(timezone=""), "timezone", "IANA"),
        (seed(timezone="../../etc/passwd"), "timezone", "IANA"),
        (seed(name=""), "name", "required"),
        (seed(actions={"registration": {"points": 0}}), "actions.registration.points", "at least 1"),
        (seed(actions={"registration": {}}), "actions.registration.points", "is required"),
        (seed(actions={"Registration!": {"points": 500}}), "actions.Registration!", "lower-case"),
        (seed(actions={"review": {"points": 5, "cap": {"per": "fortnight"}}}), "actions.review.cap.per", "month"),
        (seed(actions={"review": {"points": 5, "cap": {"count": 0}}}), "actions.review.cap.count", "at least 1"),
        (seed(actions=["registration"]), "actions", "mapping"),
        (seed(returns={"shortfall": "forgive"}), "returns.shortfall", "record_shortfall"),
    ],
)
def test_a_bad_field_is_refused_naming_its_path(document: dict[str, Any], path: str, reason: str) -> None:
    found = problems_of(document)
    assert path in [p for p, _ in found], found
    assert any(reason in r for p, r in found if p == path), found


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (seed(nmae="typo"), "nmae"),
        (seed(earning={"rulez": []}), "earning.rulez"),
        (rule(percent=5, precent=5), "earning.rules[0].precent"),
        (rule(bands=[{"up_to": "1000", "percent": 5, "rate": 1}]), "earning.rules[0].bands[0].rate"),
        (rule(per_step={"every": "1000", "points": 1000, "max": 3}), "earning.rules[0].per_step.max"),
        (seed(redemption={"max_share": 99}), "redemption.max_share"),
        (seed(expiry={"after_days": 365, "warn_days": 30}), "expiry.warn_days"),
        (seed(actions={"registration": {"points": 500, "bonus": 1}}), "actions.registration.bonus"),
        (seed(actions={"review": {"points": 5, "cap": {"count": 1, "every": "day"}}}), "actions.review.cap.every"),
        (seed(returns={"shortfal": "record_shortfall"}), "returns.shortfal"),
    ],
)
def test_an_unknown_field_is_refused_not_ignored(document: dict[str, Any], path: str) -> None:
    found = problems_of(document)
    assert (path, next(r for p, r in found if p == path)) in found
    assert "unknown field" in dict(found)[path]


def test_a_misspelt_effect_says_the_rule_has_no_effect() -> None:
    found = paths_of(rule(precent=5))
    assert "earning.rules[0]" in found
    assert "earning.rules[0].precent" in found


def test_a_rule_with_two_effects_is_refused() -> None:
    assert problems_of(rule(percent=5, fixed_points=100)) == [
        ("earning.rules[0]", "needs exactly one effect of ['percent', 'bands', 'per_step', 'fixed_points'], "
         "got ['percent', 'fixed_points']")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("bands", "path"),
    [
        ([{"up_to": "2000", "percent": 10}, {"up_to": "1000", "percent": 5}], "earning.rules[0].bands[1].up_to"),
        ([{"up_to": "1000", "percent": 5}, {"up_to": "1000", "percent": 10}], "earning.rules[0].bands[1].up_to"),
        (
            [{"up_to": "1000", "percent": 5}, {"up_to": "3000", "percent": 7}, {"up_to": "2000", "percent": 10}],
            "earning.rules[0].bands[2].up_to",
        ),
        ([{"percent": 5}, {"up_to": "2000", "percent": 10}], "earning.rules[0].bands[0].up_to"),
        # An explicit null is as open-ended as a missing bound, and just as unreachable for the bands after it.
        ([{"up_to": None, "percent": 5}, {"up_to": "2000", "percent": 10}], "earning.rules[0].bands[0].up_to"),
        (
            [{"up_to": "1000", "percent": 5}, {"up_to": None, "percent": 7}, {"percent": 10}],
            "earning.rules[0].bands[1].up_to",
        ),
    ],
)
def test_overlapping_or_unordered_bands_are_refused(bands: list[dict[str, Any]], path: str) -> None:
    assert path in paths_of(rule(bands=bands))


def test_duplicate_rule_ids_are_refused_at_the_second_one() -> None:
    document = seed(earning={"rules": [{"id": "base", "percent": 5}, {"id": "base", "percent": 10}]})
    assert paths_of(document) == ["earning.rules[1].id"]


@pytest.mark.parametrize("rule_id", ["Base", "base rule", "", "-base", "a" * 65, "base\n", None, 7])
def test_a_rule_id_must_be_a_simple_name(rule_id: object) -> None:
    assert "earning.rules[0].id" in paths_of(rule(id=rule_id, percent=5))


def test_every_problem_is_reported_in_one_pass() -> None:
    document = seed(
        point_value="0",
        expiry={"after_days": 0},
        redemption={"max_share_percent": 150, "min_check": "abc"},
        earning={"rules": [{"id": "base", "percent": 500}, {"id": "ok", "percent": 5}, {"percent": 5}]},
        actions={"registration": {"points": -500}},
    )
    assert sorted(paths_of(document)) == sorted(
        [
            "point_value",
            "expiry.after_days",
            "redemption.max_share_percent",
            "redemption.min_check",
            "earning.rules[0].percent",
            "earning.rules[2].id",
            "actions.registration.points",
        ]
    )


@pytest.mark.parametrize("document", [None, [], "program", 42])
def test_a_document_that_is_not_a_mapping_is_refused(document: object) -> None:
    found = problems_of(document)
    assert len(found) == 1
    assert found[0][0] == ""


def test_the_error_message_lists_path_and_reason() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_program(seed(expiry={"after_days": 0}))
    assert str(caught.value) == "expiry.after_days: must be at least 1, got 0"


# --- a property: whatever a marketer writes, the answer is a Program or an InvalidInput, never a crash -----------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        ["", "never", "Europe", "Europe/Moscow", "1e999999999", "-1", "0", "1000", "11-30", "2026-11-30", "NaN", "x"]
    )
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


SEED_PATHS = [p for p in _paths(SEED) if p]


@st.composite
def mutated_seed(draw: st.DrawFn) -> dict[str, Any]:
    """The seed document with a few of its fields replaced by arbitrary values (or removed)."""
    document = copy.deepcopy(SEED)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(SEED_PATHS))
        parent: Any = document
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation already replaced this branch
    return document


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_seed())
def test_any_document_gives_a_program_or_a_list_of_problems_with_paths(document: dict[str, Any]) -> None:
    try:
        program: Program | None = parse_program(document)
        problems = []
    except InvalidInput as error:
        program, problems = None, error.problems
    if program is None:
        assert problems
        assert all(problem.reason for problem in problems)
        # Written for a marketer, not in the words of the library that validates (Pydantic's "Input should be...").
        assert not [p for p in problems if "Input should" in p.reason or "Value error" in p.reason], problems
    else:
        assert 0 <= program.redemption.max_share <= 1
        assert program.point_value > 0


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"expiry": {"after_days": 10**9}}, "expiry.after_days"),
        ({"expiry": {"on_date": "9999-12-31"}}, "expiry.on_date"),
        ({"earning": {"rules": [{"id": "x", "fixed_points": 10**15}]}}, "earning.rules[0].fixed_points"),
        (
            {"earning": {"rules": [{"id": "x", "per_step": {"every": "1", "points": 10**15}}]}},
            "earning.rules[0].per_step.points",
        ),
        ({"actions": {"review": {"points": 10**15}}}, "actions.review.points"),
    ],
)
def test_values_that_would_overflow_at_checkout_are_refused(patch: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_program({"name": "x", **patch})
    assert path in [p.path for p in caught.value.problems]
