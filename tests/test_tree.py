"""The tree as committed: no merge left half-done."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<{7}|>{7})( |$)|^={7}$", re.MULTILINE)


def test_no_file_keeps_merge_conflict_markers() -> None:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for folder in ("src", "tests", "bench", ".ci"):
        files += [
            p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in {"", ".py", ".md", ".yaml", ".lua"}
        ]
    marked = [str(p.relative_to(ROOT)) for p in files if MARKER.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert marked == []
