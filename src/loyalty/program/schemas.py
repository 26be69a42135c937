"""The program document: validation, publication as a version, and the versions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from loyalty.http.schemas import Instant, InstantOrDate, Strict


class ProgramDocument(Strict):
    document: dict[str, Any] = Field(description="The program document (see the README)")
    effective_from: InstantOrDate | None = Field(
        None,
        description="When the version takes effect (default: now): a date (2026-12-01) is the start of that day in "
        "the program's time zone; a date-time needs its offset",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "document": {
                        "name": "Base program",
                        "currency": "RUB",
                        "timezone": "Europe/Moscow",
                        "earning": {"pending_days": 14, "rules": [{"id": "base", "percent": 5}]},
                        "redemption": {"min_check": "1000", "max_share_percent": 99, "earn_or_spend": True},
                        "expiry": {"after_days": 365},
                        "actions": {"registration": {"points": 500}},
                    },
                    "effective_from": "2026-12-01T00:00:00+03:00",
                }
            ]
        },
    )


class ValidationResult(BaseModel):
    valid: Literal[True]
    name: str
    rules: int
    actions: list[str]
    action_caps: dict[str, str] = Field(
        description="How often each action earns: an action without a cap earns once per member's lifetime; "
        "`cap: unlimited` has none"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "valid": True,
                    "name": "Base program",
                    "rules": 1,
                    "actions": ["registration", "review"],
                    "action_caps": {
                        "registration": "once per lifetime (the default when no cap is given)",
                        "review": "at most 3 times per month",
                    },
                }
            ]
        }
    )


class ProgramVersion(BaseModel):
    version: int
    effective_from: Instant
    published_at: Instant | None = None
    name: str | None = None
    checksum: str | None = None
    document: dict[str, Any] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": 2,
                    "effective_from": "2026-12-01T00:00:00+03:00",
                    "published_at": "2026-11-23T09:00:00+00:00",
                    "name": "Base program",
                    "checksum": "9f2c...",
                    "document": None,
                }
            ]
        }
    )


class DocumentJsonSchema(RootModel[dict[str, Any]]):
    """A JSON Schema (draft 2020-12) of a document people write, generated from the models that validate it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "title": "Loyalty program document",
                    "type": "object",
                    "properties": {"name": {"type": "string", "description": "the program's name"}},
                    "required": ["name"],
                    "additionalProperties": False,
                }
            ]
        }
    )
