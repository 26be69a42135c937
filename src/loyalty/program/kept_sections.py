"""Sections another area keeps in the program's file (the campaigns and offers): the program checks them through
hooks it is given, knowing none of them, so that every problem of the file is reported at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.core.errors import FieldProblem


@dataclass(frozen=True)
class SectionContext:
    """What a kept section is checked with: the program's time zone, its currency's exponent and its tier ids (None
    when the program's own sections are wrong, so that references to tiers are not judged against them)."""

    timezone: ZoneInfo
    exponent: int
    tiers: frozenset[str] | None


SectionCheck = Callable[[Mapping[str, Any], SectionContext], list[FieldProblem]]
"""A check of kept sections: the whole document and its context in, the problems (with full paths) out."""
