"""The segment document: its JSON Schema accepts what the README shows, and the model reads conditions into the
domain's with the program's context (its currency's decimals, its tiers)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from loyalty.core.errors import InvalidInput
from loyalty.segments.document import CONDITIONS, Reading, definition_schema, read_conditions
from loyalty.segments.model import AverageCheck, Bounds, ConsentCondition, TierCondition

ROOT = Path(__file__).resolve().parents[2]


def readme_segments() -> list[dict[str, Any]]:
    """The segment definitions the README's "Segments" section shows as JSON."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Segments") : text.index("## Campaigns")]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


def test_the_schema_accepts_the_readme_segments_and_refuses_what_the_reader_refuses() -> None:
    validator = jsonschema_rs.validator_for(definition_schema())
    examples = readme_segments()
    assert examples
    for example in examples:
        assert validator.is_valid(example), list(validator.iter_errors(example))
    rule = examples[0]
    assert validator.is_valid({"segment_id": "vip", "name": "VIP", "kind": "static", "members": [{"card": "C-1"}]})
    for bad in (
        {**rule, "conditions": [{"colour": "red"}]},
        {**rule, "conditions": [{"tier": "gold", "gender": "female"}]},
        {**rule, "conditions": [{"recency_score": {"min": 6}}]},
        {**rule, "conditions": [{"consent": {"fax": True}}]},
        {**rule, "conditions": [{"average_check": {"min": 1.5}}]},
        {**rule, "segment_id": "Check 800"},
        {**rule, "conditions": []},
    ):
        assert not validator.is_valid(bad), bad


def test_the_schema_names_every_condition() -> None:
    condition = definition_schema()["$defs"]["ConditionDocument"]
    assert tuple(condition["properties"]) == CONDITIONS
    assert (condition["minProperties"], condition["maxProperties"]) == (1, 1)


def test_conditions_become_the_domain_conditions_with_the_program_context() -> None:
    definition = read_conditions(
        [{"average_check": {"min": "7", "max": "9"}}, {"tier": "gold"}, {"consent": {"sms": True}}],
        Reading(0, frozenset({"gold"})),
    )
    assert definition.conditions == (
        AverageCheck(Bounds(7, 9)),
        TierCondition(frozenset({"gold"})),
        ConsentCondition((("sms", True),)),
    )
    with pytest.raises(InvalidInput) as caught:
        read_conditions([{"total_spend": {"min": "7.5"}}, {"tier": ["a", "b"]}], Reading(0, frozenset({"gold"})))
    assert [(p.path, p.reason) for p in caught.value.problems] == [
        ("conditions[0].total_spend.min", "7.5 has more than 0 decimal places"),
        ("conditions[1].tier", "unknown tier 'a'; the program's tiers are ['gold']"),
        ("conditions[1].tier", "unknown tier 'b'; the program's tiers are ['gold']"),
    ]
    with pytest.raises(InvalidInput) as caught:
        read_conditions([{"gender": None}, {"city": "Moscow"}, {"birthday_month": None}])
    assert [p.path for p in caught.value.problems] == ["conditions[0].gender", "conditions[2].birthday_month"]
