"""The OpenAPI document: committed, matching the code, every operation summarised and exemplified, and fuzzed
by schemathesis against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loyalty.api.app import openapi_document

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
