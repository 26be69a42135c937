"""What every body shares: the fields of `core.fields` (money, instants, points, ids, the strict request base, how a
request names a member), the instants of answers, and the problem details of an error. Money is a decimal string in
the program's currency ("1000.50"), never a JSON number; points are integers; instants are ISO 8601 with an offset,
or a bare date (a day in the program's time zone) where the field says so."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from loyalty.core import limits
from loyalty.core.fields import DATE_OR_DATE_TIME as DATE_OR_DATE_TIME
from loyalty.core.fields import Identifier as Identifier
from loyalty.core.fields import InstantOrDate as InstantOrDate
from loyalty.core.fields import Key as Key
from loyalty.core.fields import MemberRef as MemberRef
from loyalty.core.fields import Money as Money
from loyalty.core.fields import OrderKey as OrderKey
from loyalty.core.fields import Points as Points
from loyalty.core.fields import Sku as Sku
from loyalty.core.fields import Strict as Strict
from loyalty.core.fields import url_safe as url_safe
from loyalty.core.identifiers import ID_PATTERN

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


ReturnKey = Annotated[str, Field(min_length=1, max_length=limits.KEY, pattern=ID_PATTERN), url_safe("return id")]


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
