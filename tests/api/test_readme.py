"""Every HTTP example of the README, replayed in order against a real server: same status, and the response
holds every field the README shows, with the same value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
PAIR = re.compile(r"```http\n(.*?)```\n```json\n(\d{3})\n(.*?)```", re.S)


def readme_examples() -> list[tuple[str, str, dict[str, str], Any, int, Any]]:
    examples = []
    for request, status, expected in PAIR.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        head, _, body = request.partition("\n\n")
        first, *header_lines = head.strip().splitlines()
        method, path = first.split()[:2]
        headers = dict(line.split(": ", 1) for line in header_lines)
        examples.append(
            (method, path, headers, json.loads(body) if body.strip() else None, int(status), json.loads(expected))
        )
    return examples


def contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def test_the_readme_has_http_examples() -> None:
    assert len(readme_examples()) >= 8


def test_every_readme_example_runs(server: Any, engine: Engine) -> None:
    from datetime import UTC, datetime

    document = programs.read_document_file(ROOT / "examples" / "program.yaml")
    with UnitOfWork(engine) as uow:
        programs.publish(uow, document, datetime(2026, 1, 1, tzinfo=UTC), server.clock())
        uow.commit()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path, headers, body, status, expected in readme_examples():
            headers = {
                k: v.replace("$CHECKOUT_KEY", server.checkout).replace("$ADMIN_KEY", server.admin)
                for k, v in headers.items()
            }
            response = client.request(method, path, headers=headers, json=body)
            assert response.status_code == status, f"{method} {path}: {response.text}"
            assert contains(response.json(), expected), f"{method} {path}:\n{json.dumps(response.json(), indent=1)}"


def test_the_python_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python example, on a fresh embedded database in the working directory."""
    from datetime import UTC, datetime

    from loyalty.storage.database import make_engine
    from loyalty.storage.migrate import upgrade

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOYALTY_DATABASE_URL", raising=False)
    upgrade()
    engine = make_engine()
    with UnitOfWork(engine) as uow:
        programs.publish(
            uow,
            programs.read_document_file(ROOT / "examples" / "program.yaml"),
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=UTC),
        )
        uow.commit()
    engine.dispose()
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    assert namespace["result"]["points_to_earn"] == 500
    assert namespace["quote"]["points_to_earn"] == 500
