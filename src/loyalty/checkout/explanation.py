"""How a quote explains itself: a reason for every rule or policy that applied, limited or blocked, and the
source of every point a line earns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """One line of the explanation: which rule or policy fired or blocked, and what it did."""

    source: str
    outcome: str  # "applied" | "blocked" | "limited"
    message: str
    points: int = 0


@dataclass(frozen=True)
class RulePoints:
    rule_id: str
    points: int
