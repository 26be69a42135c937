"""The stores registry over HTTP."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from loyalty.core import limits
from loyalty.http.schemas import Instant, Strict

STORE_EXAMPLE: dict[str, JsonValue] = {
    "store_id": "msk-01",
    "city": "Moscow",
    "name": "Tverskaya 1",
    "created_at": "2026-11-23T09:00:00+00:00",
    "updated_at": "2026-11-23T09:00:00+00:00",
}


class StoreBody(Strict):
    city: Annotated[str, Field(min_length=1, max_length=limits.CITY, description="The city the store is in")]
    name: Annotated[str, Field(max_length=limits.NAME)] | None = Field(None, description="A name people read")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"city": "Moscow", "name": "Tverskaya 1"}]}
    )


class Store(BaseModel):
    store_id: str
    city: str
    name: str | None
    created_at: Instant
    updated_at: Instant

    model_config = ConfigDict(json_schema_extra={"examples": [STORE_EXAMPLE]})


class StoreList(BaseModel):
    stores: list[Store] = Field(description="By city, then id")

    model_config = ConfigDict(json_schema_extra={"examples": [{"stores": [STORE_EXAMPLE]}]})
