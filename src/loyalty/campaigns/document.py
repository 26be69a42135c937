"""A campaign or personal-offer definition (a dict from JSON or YAML) as a Pydantic model, validated into a
`Campaign`.

Like the program document, every problem is reported with its path. The earning part takes the same keys as a
program rule (conditions and one effect, `program/rule_document.py`), plus `multiplier` ("x2 points on coffee").
What a definition means depends on where it runs, given in the validation context: the program's time zone (dates
without a time are its days), its currency's exponent, its tier ids, and whether it is a personal offer."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field, PlainValidator, ValidationError, ValidationInfo, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from loyalty.campaigns import schedule_document as schedule
from loyalty.campaigns.model import (
    WEEKDAYS,
    Audience,
    AudienceKind,
    Campaign,
    RedemptionOverride,
    Schedule,
    Stacking,
)
from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import parse_decimal
from loyalty.core.validation import (
    DocumentModel,
    Identifier,
    Loc,
    Money,
    Percent,
    fail,
    json_schema,
    problems_of,
    refuse,
    validate_with,
    within,
)
from loyalty.program.kept_sections import SectionContext
from loyalty.program.rule_document import EFFECTS, MAX_POINTS, RuleFields


def _audience(value: object, info: ValidationInfo) -> Audience:
    context = info.context or {}
    personal, tiers = context.get("personal", False), context.get("tiers")
    allowed = ["segments", "members"] if personal else ["everyone", "segments", "tiers", "members"]
    if value == "everyone" and not personal:
        return Audience()
    problems: list[tuple[Loc, str]] = []
    if isinstance(value, dict):
        problems += [
            ((key,), f"unknown field; expected one of {sorted(allowed)}") for key in value if key not in allowed
        ]
    if not isinstance(value, dict) or len(value) != 1:
        what = "a segment or a list of members" if personal else "`everyone`, segments, tiers or a list of members"
        refuse([*problems, ((), f"must name exactly one audience: {what}")])
    if problems:
        refuse(problems)
    ((kind, ids),) = value.items()
    if kind == "members":
        # Given as a list of member references (resolved and kept by the caller), stored as their count.
        if not (isinstance(ids, list) and ids) and not (isinstance(ids, int) and not isinstance(ids, bool)):
            refuse([(("members",), "must be a non-empty list of members, each {member_id}, {phone}, ...")])
        return Audience(AudienceKind.MEMBERS)
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and 0 < len(i) <= limits.NAME for i in ids):
        refuse([((kind,), f"must be a non-empty list of names of up to {limits.NAME} characters")])
    names = frozenset(ids)
    if kind == "tiers" and tiers is not None and names - tiers:
        refuse([(("tiers",), f"unknown tiers {sorted(names - tiers)}; the program has {sorted(tiers)}")])
    return Audience(AudienceKind(kind), names)


_NAMES_SCHEMA = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
_AUDIENCE_SCHEMA = {
    "anyOf": [
        {"const": "everyone"},
        {
            "type": "object",
            "properties": {
                "segments": _NAMES_SCHEMA,
                "tiers": _NAMES_SCHEMA,
                "members": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            },
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
        },
    ],
    "description": "who the campaign is for: `everyone` (not for an offer), or exactly one of segments, tiers (not "
    "for an offer) or members",
}


def _multiplier(value: object) -> Decimal:
    """x2 points: more than 1 (x1 adds nothing) and at most 100, with one reason for every value outside."""
    try:
        number = parse_decimal(value, "")
    except InvalidInput as error:
        fail(error.problems[0].reason)
    if not 1 < number <= 100:
        fail(f"must be more than 1 (x1 adds nothing) and at most 100, got {number}")
    return number


class CampaignEarningDoc(RuleFields):
    """A program rule's conditions and effect, or a multiplier of what the program's rules earned on its lines."""

    EFFECT_KEYS: ClassVar[tuple[str, ...]] = (*EFFECTS, "multiplier")

    multiplier: (
        Annotated[
            Decimal, PlainValidator(_multiplier), WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}]})
        ]
        | None
    ) = Field(default=None, description="multiplies the program's points on the campaign's lines (x2: 2)")


class RedemptionOverrideDoc(DocumentModel):
    max_share_percent: Percent | None = Field(default=None, description="the most of an order points may pay")
    min_check: Money | None = Field(default=None, description="the order amount below which no points can be spent")

    @model_validator(mode="before")
    @classmethod
    def _changes_something(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            fail("must change max_share_percent, min_check or both")
        return value

    def override(self) -> RedemptionOverride:
        share = self.max_share_percent / 100 if self.max_share_percent is not None else None
        return RedemptionOverride(share, self.min_check)


def _across(value: dict[str, Any], info: ValidationInfo) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    earning = value.get("earning")
    if earning is None and value.get("redemption") is None:
        problems.append((("earning",), "a campaign needs an `earning` rule, a `redemption` change, or both"))
    starts: datetime | None = None
    ends: datetime | None = None
    with suppress(PydanticCustomError):  # a bad date: the field itself says why
        starts, ends = schedule.starts_at(value.get("starts_at"), info), schedule.ends_at(value.get("ends_at"), info)
    if starts is not None and ends is not None and ends <= starts:
        problems.append((("ends_at",), "must be after starts_at"))
    if not isinstance(earning, dict):
        return problems
    if earning.get("multiplier") is not None and value.get("stacking") == Stacking.BEST:
        problems.append((("stacking",), "a multiplier adds to the program's points, so it cannot compete as `best`"))
    tiers, named = (info.context or {}).get("tiers"), earning.get("tiers")
    if tiers is not None and isinstance(named, list) and all(isinstance(n, str) for n in named) and set(named) - tiers:
        unknown = sorted(set(named) - tiers)
        problems.append((("earning", "tiers"), f"unknown tiers {unknown}; the program has {sorted(tiers)}"))
    return problems


def _campaign_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limits.NAME:
        fail(f"is required: up to {limits.NAME} characters")
    return value.strip()


class CampaignDocument(DocumentModel):
    """A time-boxed rule aimed at an audience (or, as a personal offer, at chosen members), that earns points,
    changes what points can pay, or both."""

    id: Annotated[str, Identifier(limits.CAMPAIGN_ID)] = Field(
        description="the campaign's id, in the source its points carry (campaign:<id>)"
    )
    name: Annotated[str, PlainValidator(_campaign_name), WithJsonSchema({"type": "string", "minLength": 1})] = Field(
        description=f"the campaign's name, up to {limits.NAME} characters"
    )
    description: Annotated[str, Field(max_length=limits.CAMPAIGN_DESCRIPTION)] | None = Field(
        default=None, description="what the campaign is, for people"
    )
    enabled: bool = Field(default=True, strict=True, description="false pauses it")
    starts_at: Annotated[datetime, PlainValidator(schedule.starts_at), WithJsonSchema(schedule.INSTANT_SCHEMA)] = Field(
        description="the date or instant the campaign starts"
    )
    ends_at: Annotated[datetime | None, PlainValidator(schedule.ends_at), WithJsonSchema(schedule.INSTANT_SCHEMA)] = (
        Field(default=None, description="the date (through its end) or instant the campaign ends; none: open-ended")
    )
    days_of_week: Annotated[
        frozenset[int],
        PlainValidator(schedule.days_of_week),
        WithJsonSchema(
            {
                "type": "array",
                "minItems": 1,
                "items": {"anyOf": [{"enum": list(WEEKDAYS)}, {"type": "integer", "minimum": 1, "maximum": 7}]},
            }
        ),
    ] = Field(default=frozenset(), description="the days it applies on (every day when absent)")
    hours: schedule.HoursDoc | None = Field(default=None, description="the hours of the day it applies in")
    audience: Annotated[Audience, PlainValidator(_audience), WithJsonSchema(_AUDIENCE_SCHEMA)] = Field(
        default="everyone", validate_default=True
    )
    earning: CampaignEarningDoc | None = Field(
        default=None, description="what it earns: a rule's effect or a multiplier"
    )
    redemption: RedemptionOverrideDoc | None = Field(default=None, description="how it changes what points can pay")
    stacking: Stacking = Field(default=Stacking.ADD, description="how it combines with the program and other campaigns")
    priority: Annotated[int, within(-1000, 1000)] = Field(
        default=0, description="higher wins among `best` and `exclusive`"
    )
    budget_points: Annotated[int, within(0, 10**15)] | None = Field(default=None, description="points over its life")
    per_member_cap_points: Annotated[int, within(1, MAX_POINTS)] | None = Field(
        default=None, description="points one member can get from it over its life"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _consistent(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """The checks across fields, made on what was given so that they are reported with the fields' own
        problems (a campaign ending before it starts and with a negative budget gets both reasons)."""
        problems = _across(value, info) if isinstance(value, dict) else []
        return validate_with(value, handler, problems)

    def campaign(self, *, personal: bool, revision: int) -> Campaign:
        earning = self.earning
        return Campaign(
            self.id,
            self.name,
            revision,
            Schedule(
                self.starts_at,
                self.ends_at,
                self.days_of_week,
                (self.hours.start, self.hours.end) if self.hours else None,
            ),
            self.audience,
            personal,
            self.enabled,
            self.description,
            self.stacking,
            self.priority,
            earning.conditions() if earning else (),
            earning.effect() if earning else None,
            earning.multiplier if earning else None,
            earning.max_points_per_order if earning else None,
            self.redemption.override() if self.redemption else None,
            self.budget_points,
            self.per_member_cap_points,
        )


def parse_campaign(
    document: object,
    *,
    timezone: ZoneInfo,
    exponent: int = 2,
    personal: bool = False,
    revision: int = 1,
    tiers: frozenset[str] | None = None,
) -> Campaign:
    """The campaign (or, with `personal`, the offer) a definition describes; InvalidInput lists every problem.
    Dates without a time are days in the program's time zone: `starts_at` from the start of that day, `ends_at`
    through its end. `tiers`, when given, are the tier ids an audience or condition may name."""
    if not isinstance(document, dict):
        raise InvalidInput(FieldProblem("", "a campaign must be a mapping"))
    context = {"timezone": timezone, "exponent": exponent, "personal": personal, "tiers": tiers}
    try:
        model = CampaignDocument.model_validate(document, context=context)
    except ValidationError as error:
        raise InvalidInput(problems_of(error, CampaignDocument)) from None
    return model.campaign(personal=personal, revision=revision)


def check_kept(doc: Mapping[str, Any], context: SectionContext) -> list[FieldProblem]:
    """Campaigns and offers may be kept in the program's file; publishing applies them to the campaign store
    (campaigns/publishing.py). Here they are checked like any definition, in the program's time zone, as a section
    check of the program document."""
    problems: list[FieldProblem] = []
    for section, personal in (("campaigns", False), ("offers", True)):
        items = doc.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(FieldProblem(section, "must be a list of definitions"))
            continue
        seen: set[object] = set()
        for i, item in enumerate(items):
            try:
                parse_campaign(
                    item, timezone=context.timezone, exponent=context.exponent, personal=personal, tiers=context.tiers
                )
            except InvalidInput as error:
                problems.extend(FieldProblem(f"{section}[{i}].{p.path}".rstrip("."), p.reason) for p in error.problems)
            ident = item.get("id") if isinstance(item, dict) else None
            if ident in seen:
                problems.append(FieldProblem(f"{section}[{i}].id", f"duplicate id {ident!r}"))
            seen.add(ident)
    return problems


# The example an editor shows: the campaign of the README's tour, x2 points on coffee in November.
_EXAMPLE = {
    "id": "coffee-x2-november",
    "name": "x2 points on coffee in November",
    "starts_at": "2026-11-01",
    "ends_at": "2026-11-30",
    "earning": {"categories": ["coffee"], "multiplier": 2},
    "budget_points": 1000000,
    "per_member_cap_points": 2000,
}


def campaign_schema() -> dict[str, Any]:
    """The JSON Schema of a campaign or personal-offer definition."""
    return json_schema(CampaignDocument, "Loyalty campaign or personal offer", [_EXAMPLE])
