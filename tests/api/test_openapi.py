"""The OpenAPI document: committed, matching the code, every operation summarised and exemplified, and fuzzed
by schemathesis against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loyalty.http.app import openapi_document

ROOT = Path(__file__).resolve().parents[2]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def test_committed_openapi_matches_the_code() -> None:
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(openapi_document())), "run `loyalty openapi` and commit openapi.json"


def test_every_operation_has_a_summary_and_an_example() -> None:
    document = openapi_document()
    missing = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not operation.get("summary"):
                missing.append(f"{method} {path}: summary")
            schemas = []
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                schemas.append(body["schema"])
            for status in ("200", "201"):
                content = operation["responses"].get(status, {}).get("content", {}).get("application/json", {})
                if content:
                    schemas.append(content["schema"])
            resolved = [_resolve(document, s) for s in schemas]
            if not any(
                "examples" in s or ("items" in s and "examples" in _resolve(document, s["items"])) for s in resolved
            ):
                missing.append(f"{method} {path}: example")
    assert not missing


def test_money_is_documented_as_a_decimal_string() -> None:
    document = openapi_document()
    line = document["components"]["schemas"]["OrderLine"]["properties"]["price"]
    assert line["type"] == "string"
    assert line["format"] == "decimal"
    assert "never a JSON number" in line["description"]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server: Any, admin: Any, tmp_path: Path) -> None:
    """Fuzz every operation of the served document with an admin key: no 5xx, every response matches its schema."""
    import os
    import subprocess
    import sys

    published = admin.post(
        "/v1/program/versions",
        json={
            "document": {
                "name": "Fuzz",
                "earning": {"rules": [{"id": "base", "percent": 5}]},
                "actions": {"registration": {"points": 5}},
            },
            "effective_from": "2026-01-01T00:00:00+00:00",
        },
    )
    assert published.status_code == 201
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
            "--max-examples",
            "25",
            "--phases",
            "examples,fuzzing",
            "--generation-deterministic",
            "--header",
            f"Authorization: Bearer {server.admin}",
            "--suppress-health-check",
            "all",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_every_operation_declares_how_it_is_authenticated() -> None:
    document = openapi_document()
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    unsecured = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if not operation.get("security")
    ]
    assert unsecured == []


DATES = {"birth_date"}
INSTANTS = {"as_of", "since", "kept_until", "effective_from", "valid_from", "valid_until", "at"}


def _formats(schema: dict[str, Any]) -> set[str]:
    """The formats a property's schema allows, through anyOf (a nullable field, a date or a date-time)."""
    found = {schema["format"]} if "format" in schema else set()
    for option in schema.get("anyOf", []):
        found |= _formats(option)
    return found


def test_every_date_and_instant_declares_its_format() -> None:
    document = openapi_document()
    missing = []
    for name, schema in document["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if field in DATES and "date" not in _formats(prop):
                missing.append(f"{name}.{field}: date")
            if (field.endswith("_at") or field in INSTANTS) and "date-time" not in _formats(prop):
                missing.append(f"{name}.{field}: date-time")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in INSTANTS and "date-time" not in _formats(parameter["schema"]):
                    missing.append(f"{method} {path} ?{parameter['name']}: date-time")
    assert missing == []


def test_a_wrong_method_is_answered_with_every_method_of_the_path(server: Any) -> None:
    document = openapi_document()
    with server.client(server.admin) as admin:
        for sample, template in (
            ("/v1/segments/vip", "/v1/segments/{segment_id}"),
            ("/v1/members/1", "/v1/members/{member_id}"),
            ("/v1/campaigns", "/v1/campaigns"),
            ("/v1/jobs/expire", "/v1/jobs/expire"),
        ):
            documented = {method.upper() for method in document["paths"][template]}
            response = admin.request("DELETE", sample)
            assert response.status_code == 405, sample
            assert response.headers["content-type"].startswith("application/problem+json")
            allowed = set(response.headers["allow"].split(", "))
            assert allowed == documented | ({"HEAD"} if "GET" in documented else set()), sample
        # Two routes serve this path (GET and PUT); Starlette alone names only the first one's methods.
        assert admin.post("/v1/segments/vip").headers["allow"] == "GET, HEAD, PUT"
