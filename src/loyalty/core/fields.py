"""The fields every door reads with Pydantic — the HTTP bodies, and the same models for the Python API and the
imports — and how a Pydantic validation error becomes `FieldProblem`s with dotted paths. Money is a decimal string
("1000.50"), never a number; points are integers; ids, skus and identifiers are bounded texts; an instant is ISO 8601
with an offset, or a bare date (a day in the program's time zone) where the field says so."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.identifiers import ID_PATTERN, ID_RULE, id_problem
from loyalty.core.instants import read_instant
from loyalty.core.money import MONEY_DECIMALS, MONEY_DIGITS
from loyalty.core.validation import dotted

MONEY_PATTERN = rf"^\d{{1,{MONEY_DIGITS}}}(\.\d{{1,{MONEY_DECIMALS}}})?$"
_NUMBER = re.compile(r"-?(\d+)(\.(\d+))?")


def _money_text(value: Any) -> Any:
    """Money travels as text, so that no client's float rounds it; say so to the caller who sends a number."""
    if isinstance(value, str):
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    raise PydanticCustomError(
        "money_type", 'must be a decimal string such as "1000.50"' + (", not a JSON number" if number else "")
    )


def _money_problem(text: str) -> str:
    """Why `text` is not Money (its pattern says only that it does not match)."""
    number = _NUMBER.fullmatch(text)
    if number is None:
        shown = f"{text!r} " if len(text) <= 40 else ""  # a long text is not worth repeating back
        return shown + 'is not a decimal string such as "1000.50"'
    if text.startswith("-"):
        return "must not be negative"
    if len(number.group(1)) > MONEY_DIGITS:
        return f"must have at most {MONEY_DIGITS} digits before the decimal point"
    return f"must have at most {MONEY_DECIMALS} digits after the decimal point"


# The pattern is checked by Pydantic's core, after the type: `reason` explains a mismatch.
Money = Annotated[
    str,
    Field(pattern=MONEY_PATTERN),
    BeforeValidator(_money_text),
    Field(
        description='A decimal string in major units, e.g. "1000.50"; never a JSON number.',
        examples=["1000.00"],
        json_schema_extra={"format": "decimal"},
    ),
]


DATE_OR_DATE_TIME = {"anyOf": [{"format": "date-time"}, {"format": "date"}]}


# What a caller may send for an instant: a date-time with its offset, or a bare date, a day in the program's time
# zone (see the README); a date-time without an offset is refused.
InstantOrDate = Annotated[
    str,
    Field(
        description="ISO 8601 date-time with an offset, or a date YYYY-MM-DD (a day in the program's time zone)",
        examples=["2026-11-23T12:00:00+03:00"],
        json_schema_extra=DATE_OR_DATE_TIME,
    ),
]


@dataclass(frozen=True)
class GivenInstant:
    """An `InstantOrDate` read at the door: what it names (a date-time with its offset, or a bare date that the
    program's time zone places later, see `core.instants.instant_at`) and the text as it was sent, which is what
    the model gives back when dumped (a request's fingerprint is taken of the body as sent)."""

    value: datetime | date
    text: str


def _given_instant(value: Any) -> GivenInstant:
    try:
        return GivenInstant(read_instant(value, ""), value if isinstance(value, str) else value.isoformat())
    except InvalidInput as error:
        raise PydanticCustomError("instant", error.problems[0].reason) from None


# An InstantOrDate read once, by the model: the same text and the same schema, with what it names kept.
ReadInstantOrDate = Annotated[
    GivenInstant,
    PlainValidator(_given_instant),
    PlainSerializer(lambda given: given.text, return_type=str),
    WithJsonSchema(TypeAdapter(InstantOrDate).json_schema()),
]


Points = Annotated[int, Field(ge=0, le=10**12, description="Whole points")]


Key = Annotated[str, Field(min_length=1, max_length=limits.KEY, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/#-]*$")]


def url_safe(what: str) -> BeforeValidator:
    """Refuses, saying why, an id that could not be sent back in a URL path (`/v1/orders/{order_id}`)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and (problem := id_problem(value, what)) is not None:
            raise PydanticCustomError("url_safe", problem)
        return value

    return BeforeValidator(check)


def enum_text(enum: type[StrEnum]) -> BeforeValidator:
    """Lets a strict body give one of a text enum's values as the JSON string it is (strict mode otherwise wants an
    instance), and refuses any other value listing the allowed ones."""
    allowed = {member.value: member for member in enum}

    def read(value: Any) -> Any:
        if isinstance(value, enum):
            return value
        if isinstance(value, str) and value in allowed:
            return allowed[value]
        raise PydanticCustomError("choice", "must be one of: {allowed}", {"allowed": ", ".join(allowed)})

    return BeforeValidator(read)


OrderKey = Annotated[
    str,
    Field(min_length=1, max_length=limits.KEY, pattern=ID_PATTERN, description="Your id of the order: " + ID_RULE),
    url_safe("order id"),
]


Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER)]


Sku = Annotated[str, Field(min_length=1, max_length=limits.SKU)]


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so are values of another JSON type — "100" or 100.0 for an
    integer, 1 or "yes" for a boolean — rather than converted (strict mode; subclasses' configs merge into it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


def refuse_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL; refuse it at the door, naming the field, rather than fail in the database.
    (A text whose pattern refuses NUL needs no such check: `reason` says why its pattern did not match.)"""
    if isinstance(value, str) and "\x00" in value:
        raise PydanticCustomError("nul", "must not contain NUL characters")
    return value


class MemberRef(Strict):
    """Exactly one way to name the member."""

    member_id: int | None = Field(None, ge=1, le=10**18)
    phone: Identifier | None = None
    email: Identifier | None = None
    card: Identifier | None = None
    external_id: Identifier | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"phone": "+79123456789"}]})

    def as_ref(self) -> dict[str, Any]:
        """The one way given, as {kind: value} (the fields' values are the model's __dict__, no dump needed)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


def field_problems(errors: Iterable[Mapping[str, Any]]) -> list[FieldProblem]:
    """Pydantic's errors (`ValidationError.errors()`) as problems named by dotted paths (`lines[0].price`)."""
    return [FieldProblem(dotted(tuple(error.get("loc", ()))), reason(error)) for error in errors]


def reason(error: Mapping[str, Any]) -> str:
    """The reason of one of Pydantic's errors, written for the caller."""
    kind = error.get("type")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "model_type":  # Pydantic names the model's class, which means nothing to the caller
        return "must be a JSON object"
    if kind == "string_pattern_mismatch" and "\x00" in str(error.get("input")):
        return "must not contain NUL characters"
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == MONEY_PATTERN:
        return _money_problem(str(error.get("input")))
    if kind == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])  # the validator's own words, without Pydantic's "Value error, "
    return str(error.get("msg", "is invalid"))
