"""Segments: rule and static segments, their members, and recomputation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from loyalty.core import limits
from loyalty.http.schemas import Instant, InstantOrDate, MemberRef, Strict

SegmentId = Annotated[
    str,
    Field(pattern=limits.id_pattern(limits.SEGMENT_ID), description="Lower-case letters, digits, '_', '-', '.'"),
]


SEGMENT_CONDITIONS_EXAMPLE: list[JsonValue] = [
    {"average_check": {"min": "700", "max": "900"}},
    {"consent": {"sms": True}},
]


class NewSegment(Strict):
    segment_id: SegmentId
    name: Annotated[str, Field(min_length=1, max_length=limits.NAME)]
    kind: Literal["rule", "static"] = Field("rule", description="rule: by conditions; static: an uploaded list")
    conditions: list[dict[str, Any]] | None = Field(
        None,
        max_length=100,
        description="A rule segment's conditions, all of which must hold; each maps one condition (recency_score, "
        "frequency_score, monetary_score, days_since_last_purchase, purchase_count, total_spend, average_check, "
        "tier, gender, age, city, birthday_month, consent, attributes) to its argument. See the README.",
    )
    members: list[MemberRef] | None = Field(None, max_length=100_000, description="A static segment's members")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "segment_id": "check-800",
                    "name": "Usually buy for about 800 ₽",
                    "conditions": SEGMENT_CONDITIONS_EXAMPLE,
                },
                {"segment_id": "vip-list", "name": "VIP guests", "kind": "static", "members": [{"member_id": 1}]},
            ]
        },
    )

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if self.members is not None:
            data["members"] = [m.as_ref() for m in self.members]
        return data


class SegmentChange(Strict):
    name: Annotated[str, Field(min_length=1, max_length=limits.NAME)] | None = Field(
        None, description="Default: unchanged"
    )
    kind: Literal["rule", "static"] | None = Field(None, description="A segment keeps its kind")
    conditions: list[dict[str, Any]] | None = Field(None, max_length=100, description="A rule segment's new conditions")
    members: list[MemberRef] | None = Field(None, max_length=100_000, description="A static segment's new members")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Usually buy for about 800 ₽", "conditions": SEGMENT_CONDITIONS_EXAMPLE}]
        },
    )

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if self.members is not None:
            data["members"] = [m.as_ref() for m in self.members]
        return data


SEGMENT_EXAMPLE: dict[str, Any] = {
    "segment_id": "check-800",
    "name": "Usually buy for about 800 ₽",
    "kind": "rule",
    "conditions": SEGMENT_CONDITIONS_EXAMPLE,
    "member_count": 412,
    "computed_at": "2026-11-23T09:00:00+00:00",
    "created_at": "2026-11-20T09:00:00+00:00",
    "updated_at": "2026-11-20T09:00:00+00:00",
}


class Segment(BaseModel):
    segment_id: str
    name: str
    kind: Literal["rule", "static"]
    conditions: list[dict[str, Any]] | None
    member_count: int
    computed_at: Instant | None = Field(description="The instant the members were computed as of")
    created_at: Instant
    updated_at: Instant

    model_config = ConfigDict(json_schema_extra={"examples": [SEGMENT_EXAMPLE]})


class SegmentList(BaseModel):
    segments: list[Segment]

    model_config = ConfigDict(json_schema_extra={"examples": [{"segments": [SEGMENT_EXAMPLE]}]})


class SegmentMember(BaseModel):
    member_id: int


class SegmentMemberPage(BaseModel):
    segment_id: str
    members: list[SegmentMember]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page; null on the last")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"segment_id": "check-800", "members": [{"member_id": 1}, {"member_id": 7}], "next_cursor": "7"}
            ]
        }
    )


class RecomputeRequest(Strict):
    as_of: InstantOrDate | None = Field(
        None,
        description="Compute as of this instant, or of the end of this date in the program's time zone (default: now)",
    )

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-11-30T23:59:59+03:00"}]})


class RecomputeResult(BaseModel):
    as_of: Instant
    segments: int = Field(description="Rule segments recomputed")
    members: int = Field(description="Memberships written")
    skipped: int = Field(description="Segments changed meanwhile (their change recomputed them)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"as_of": "2026-11-30T20:59:59+00:00", "segments": 10, "members": 5120, "skipped": 0}]
        }
    )


class MemberSegments(BaseModel):
    member_id: int
    segments: list[str] = Field(description="The ids of the segments the member is in, as last computed")

    model_config = ConfigDict(json_schema_extra={"examples": [{"member_id": 1, "segments": ["check-800", "vip-list"]}]})
