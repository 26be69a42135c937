"""Errors the domain raises; each says which field is wrong and why, in words a retailer's engineer reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field: `path` is dotted (``lines[2].quantity``), `reason` is for humans."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class LoyaltyError(Exception):
    """Base of every error a use case raises on purpose."""

    kind = "error"


class InvalidInput(LoyaltyError):
    """The input is malformed or out of range. Nothing was written."""

    kind = "invalid-input"

    def __init__(self, problems: list[FieldProblem] | FieldProblem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, path: str, reason: str) -> InvalidInput:
        return cls(FieldProblem(path, reason))


class NotFound(LoyaltyError):
    kind = "not-found"


class Conflict(LoyaltyError):
    """The request contradicts what is already recorded (same key, other body; wrong state)."""

    kind = "conflict"


class InsufficientPoints(InvalidInput):
    kind = "insufficient-points"
