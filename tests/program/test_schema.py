"""The JSON Schema published for editors: generated from the models that validate documents, it describes every
field the seed and demo documents use, and a document the models refuse says every problem with its path."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty.campaigns.document import CampaignDocument
from loyalty.campaigns.publishing import DOCUMENT_SCHEMAS, document_schema, program_of
from loyalty.core.errors import InvalidInput
from loyalty.program import service
from loyalty.program.document import ProgramDocument, parse_program
from loyalty.program.rules import PercentEffect

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [ROOT / "src/loyalty/demo/program.yaml", ROOT / "examples/program.yaml"]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        node = schema["$defs"][name]
    return node


def problems(schema: dict[str, Any], node: dict[str, Any], value: object, path: str = "") -> list[str]:
    """Where `value` falls outside `node`: the part of JSON Schema the document schemas use (types, enums,
    properties, required, additionalProperties, items, anyOf, bounds), enough to say a document fits."""
    node = resolve(schema, node)
    if "anyOf" in node:
        if any(not problems(schema, option, value, path) for option in node["anyOf"]):
            return []
        others = [option for option in node["anyOf"] if option != {"type": "null"}]
        if len(others) == 1:  # an optional section: say what is wrong inside it
            return problems(schema, others[0], value, path)
        return [f"{path}: none of anyOf"]
    found: list[str] = []
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is(value, k) for k in kinds):
        return [f"{path}: not {kinds}"]
    if "const" in node and value != node["const"]:
        found.append(f"{path}: not {node['const']!r}")
    if "enum" in node and value not in node["enum"]:
        found.append(f"{path}: not in {node['enum']}")
    if _is(value, "integer") and not node.get("minimum", value) <= value <= node.get("maximum", value):
        found.append(f"{path}: out of bounds")
    if isinstance(value, dict):
        properties = node.get("properties", {})
        found += [f"{path}.{key}: required" for key in node.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                found += problems(schema, properties[key], item, f"{path}.{key}")
            elif node.get("additionalProperties") is False:
                found.append(f"{path}.{key}: unknown")
            elif isinstance(node.get("additionalProperties"), dict):
                found += problems(schema, node["additionalProperties"], item, f"{path}.{key}")
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            found += problems(schema, node["items"], item, f"{path}[{i}]")
    return found


def _is(value: object, kind: str) -> bool:
    if kind == "boolean" or isinstance(value, bool):
        return kind == "boolean" and isinstance(value, bool)
    python = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "null": type(None)}
    return isinstance(value, python[kind])


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
    assert problems(schema, schema, document) == []
    parse_program(document)


def test_the_readme_program_fits_the_schema() -> None:
    """The README's annotated program (with decimals written as YAML numbers, read exactly) fits, and validates."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The program document") :]
    document = service.read_document(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    document["earning"]["rules"][0]["percent"] = 2.5  # as an editor sees `percent: 2.5`; read as "2.5"
    schema = document_schema("program")
    assert problems(schema, schema, document) == []
    rule = parse_program(service.read_document_json(document)).rule("base")
    assert rule is not None and rule.effect == PercentEffect(Decimal("2.5"))


def test_the_example_campaigns_fit_the_campaign_schema() -> None:
    kept = service.read_document_file(ROOT / "examples/campaigns.yaml")
    schema = document_schema("campaign")
    for definition in [*kept["campaigns"], *kept["offers"], *schema["examples"]]:
        assert problems(schema, schema, definition) == [], definition["id"]


def test_the_schema_checker_sees_what_the_models_refuse() -> None:
    """The checker above is not lenient: unknown keys, wrong types and missing fields are out of the schema too."""
    schema = document_schema("program")
    bad = {"nmae": "x", "earning": {"rules": [{"percent": "5", "id": 7}], "pending_days": "14"}, "expiry": "soon"}
    assert sorted(problems(schema, schema, bad)) == [
        ".earning.pending_days: not ['integer']",
        ".earning.rules[0].id: not ['string']",
        ".expiry: none of anyOf",
        ".name: required",
        ".nmae: unknown",
    ]


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
