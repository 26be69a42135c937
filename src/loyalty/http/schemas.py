"""What every body shares: money, instants, points and ids as they travel, the strict request base, how a
request names a member, and the problem details of an error. Money is a decimal string in the program's currency
("1000.50"), never a JSON number; points are integers; instants are ISO 8601 with an offset, or a bare date (a day
in the program's time zone) where the field says so."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from loyalty.core import limits
from loyalty.core.identifiers import ID_PATTERN, ID_RULE, id_problem


def _money_text(value: Any) -> Any:
    """Money travels as text, so that no client's float rounds it; say so to the caller who sends a number."""
    if isinstance(value, str):
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    raise PydanticCustomError(
        "money_type", 'must be a decimal string such as "1000.50"' + (", not a JSON number" if number else "")
    )


Money = Annotated[
    str,
    BeforeValidator(_money_text),
    Field(
        pattern=r"^\d{1,13}(\.\d{1,4})?$",
        description='A decimal string in major units, e.g. "1000.50"; never a JSON number.',
        examples=["1000.00"],
        json_schema_extra={"format": "decimal"},
    ),
]


Instant = Annotated[
    str,
    Field(
        description="ISO 8601 date-time with an offset",
        examples=["2026-11-23T12:00:00+03:00"],
        json_schema_extra={"format": "date-time"},
    ),
]


Day = Annotated[
    str, Field(description="A date YYYY-MM-DD", examples=["1990-05-17"], json_schema_extra={"format": "date"})
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


Points = Annotated[int, Field(ge=0, le=10**12, description="Whole points")]


Key = Annotated[str, Field(min_length=1, max_length=limits.KEY, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/#-]*$")]


def url_safe(what: str) -> BeforeValidator:
    """Refuses, saying why, an id that could not be sent back in a URL path (`/v1/orders/{order_id}`)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and (problem := id_problem(value, what)) is not None:
            raise ValueError(problem)
        return value

    return BeforeValidator(check)


OrderKey = Annotated[
    str,
    Field(min_length=1, max_length=limits.KEY, pattern=ID_PATTERN, description="Your id of the order: " + ID_RULE),
    url_safe("order id"),
]


ReturnKey = Annotated[str, Field(min_length=1, max_length=limits.KEY, pattern=ID_PATTERN), url_safe("return id")]


Identifier = Annotated[str, Field(min_length=1, max_length=limits.IDENTIFIER)]


Sku = Annotated[str, Field(min_length=1, max_length=limits.SKU)]


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so are values of another JSON type — "100" or 100.0 for an
    integer, 1 or "yes" for a boolean — rather than converted (strict mode; subclasses' configs merge into it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it here, naming the field, rather than fail in the database.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
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
        return {k: v for k, v in self.model_dump().items() if v is not None}


class FieldError(BaseModel):
    path: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = []
    request_id: str | None = None
