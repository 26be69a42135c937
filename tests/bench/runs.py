"""Running a benchmark module as `make bench-*` does, for the smoke tests: on the test PostgreSQL server, its one
JSON line read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("LOYALTY_TEST_DATABASE_URL")
ON_POSTGRES = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL,
        reason="PostgreSQL benchmark smoke test skipped: set LOYALTY_TEST_DATABASE_URL=postgresql://user@host/db",
    ),
]


def one_json_line(module: str, *args: str) -> dict[str, Any]:
    """`python -m module args` on the test server: it must succeed and print exactly one JSON line."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "LOYALTY_BENCH_DATABASE_URL": PG_URL or ""},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result
