"""The JSON Schema published for editors: generated from the models that validate documents, it describes every
field the seed and demo documents use, and a document the models refuse says every problem with its path."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from loyalty.campaigns.document import CampaignDocument
from loyalty.campaigns.publishing import DOCUMENT_SCHEMAS, document_schema, program_of
from loyalty.core.errors import InvalidInput
from loyalty.program import service
from loyalty.program.document import ProgramDocument, parse_program
from loyalty.program.rules import PercentEffect

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [ROOT / "src/loyalty/demo/program.yaml", ROOT / "examples/program.yaml"]


def problems(schema: dict[str, Any], value: object) -> list[str]:
    """Where `value` falls outside `schema`, as an editor's validator (jsonschema-rs, JSON Schema 2020-12) says."""
    found = jsonschema_rs.validator_for(schema).iter_errors(value)
    return sorted("." + ".".join(str(part) for part in error.instance_path) for error in found)


def test_the_schemas_are_json_schema_documents_whose_references_all_resolve() -> None:
    for name in DOCUMENT_SCHEMAS:
        schema = document_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        text = json.dumps(schema)
        assert json.loads(text) == schema
        for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
            assert ref.removeprefix("#/$defs/") in schema["$defs"], ref
        # Every definition is titled for people, not by a class name.
        assert all(" " in d["title"] or d["title"].istitle() for d in schema["$defs"].values())
        assert not any(d["title"].endswith("Doc") for d in schema["$defs"].values())


def test_the_program_schema_describes_each_field_and_the_kept_campaigns() -> None:
    schema = document_schema("program")
    assert schema["required"] == ["name"]
    assert set(schema["properties"]) == {f.alias or n for n, f in ProgramDocument.model_fields.items()}
    assert all(p.get("description") for p in schema["properties"].values())
    campaigns = schema["properties"]["campaigns"]
    assert campaigns["items"] == {"$ref": "#/$defs/CampaignDocument"}
    assert set(schema["$defs"]["CampaignDocument"]["properties"]) == set(CampaignDocument.model_fields)


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.parent.name)
def test_the_seed_and_demo_documents_fit_the_schema(path: Path) -> None:
    document = service.read_document_file(path)
    schema = document_schema("program")
    assert problems(schema, document) == []
    parse_program(document)


def test_the_readme_program_fits_the_schema() -> None:
    """The README's annotated program (with decimals written as YAML numbers, read exactly) fits, and validates."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The program document") :]
    document = service.read_document(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    document["earning"]["rules"][0]["percent"] = 2.5  # as an editor sees `percent: 2.5`; read as "2.5"
    schema = document_schema("program")
    assert problems(schema, document) == []
    rule = parse_program(service.read_document_json(document)).rule("base")
    assert rule is not None and rule.effect == PercentEffect(Decimal("2.5"))


def test_the_example_campaigns_fit_the_campaign_schema() -> None:
    kept = service.read_document_file(ROOT / "examples/campaigns.yaml")
    schema = document_schema("campaign")
    for definition in [*kept["campaigns"], *kept["offers"], *schema["examples"]]:
        assert problems(schema, definition) == [], definition["id"]


def test_the_schemas_are_valid_and_an_editor_sees_what_the_models_refuse() -> None:
    """Each schema is a valid JSON Schema document, and a validator reading it flags unknown keys, wrong types and
    missing fields where the models do."""
    for name in DOCUMENT_SCHEMAS:
        assert jsonschema_rs.meta.is_valid(document_schema(name)), name
    schema = document_schema("program")
    bad = {"nmae": "x", "earning": {"rules": [{"percent": "5", "id": 7}], "pending_days": "14"}, "expiry": "soon"}
    assert problems(schema, bad) == [".", ".", ".earning", ".expiry"]  # the root: `nmae` unknown, `name` missing
    with pytest.raises(InvalidInput) as caught:
        parse_program(bad)
    assert {p.path for p in caught.value.problems} >= {"name", "nmae", "earning.pending_days", "expiry"}


def test_the_example_in_the_schema_is_the_demo_program_and_is_valid() -> None:
    (example,) = document_schema("program")["examples"]
    assert example == service.read_document_file(SEEDS[0])
    assert parse_program(example).name == "Demo bonus program"


def test_a_bad_document_lists_every_problem_with_its_path() -> None:
    document = {
        "name": "",
        "currency": "RUB",
        "earning": {"rules": [{"id": "Base", "percent": "150", "colour": "red"}, {"id": "b"}]},
        "tiers": {"levels": [{"id": "silver", "from": "100"}, {"id": "gold", "from": "50"}]},
        "campaigns": [{"id": "c", "name": "C", "starts_at": "2026-11-01", "audience": {"segments": [""]}}],
    }
    with pytest.raises(InvalidInput) as caught:
        program_of(document)
    assert sorted((p.path, p.reason) for p in caught.value.problems) == sorted(
        [
            ("name", "is required: the program's name, up to 200 characters"),
            (
                "earning.rules[0].id",
                "must be lower-case letters, digits, '_', '-' or '.', starting with a letter or a digit, up to 64 "
                "characters",
            ),
            ("earning.rules[0].percent", "must be between 0 and 100, got 150"),
            ("earning.rules[0].colour", f"unknown field; expected one of {sorted(_rule_keys())}"),
            (
                "earning.rules[1]",
                "needs exactly one effect of ['percent', 'bands', 'per_step', 'fixed_points'], got none",
            ),
            ("tiers.levels[0].from", "the first level must start at 0: it is every member's level"),
            ("tiers.levels[1].from", "must be above the previous level's 100.00: levels may not overlap"),
            ("campaigns[0].audience.segments", "must be a non-empty list of names of up to 200 characters"),
            ("campaigns[0].earning", "a campaign needs an `earning` rule, a `redemption` change, or both"),
        ]
    )


def _rule_keys() -> set[str]:
    schema = document_schema("program")
    return set(schema["$defs"]["EarningRuleDoc"]["properties"])
