"""The program document (the dict of a YAML or JSON file) as Pydantic models, validated once into a `Program`.

Every problem is reported at once with the dotted path of the field and the reason, so a marketer fixes the whole
document in one pass; the same models give the document's JSON Schema (`schema.py`). The format is documented in
README.md ("The program document")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from importlib.resources import files
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from loyalty.core import documents, limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import Rounding, currency_exponent
from loyalty.core.validation import (
    DisplayName,
    DocumentModel,
    Identifier,
    Loc,
    Money,
    Names,
    Percent,
    PositiveMoney,
    fail,
    json_schema,
    problems_of,
    refuse,
    within,
)
from loyalty.program.kept_sections import SectionCheck, SectionContext
from loyalty.program.model import (
    ActionBonus,
    CapPeriod,
    EarningPolicy,
    ExpiryKind,
    ExpiryPolicy,
    ExpiryStart,
    Program,
    RedemptionPolicy,
    Shortfall,
)
from loyalty.program.rule_document import MAX_POINTS, RuleFields
from loyalty.program.rules import EarningRule
from loyalty.program.sections import ReferralsDoc, TiersDoc, WinBackDoc

__all__ = ["MAX_POINTS", "ProgramDocument", "SectionCheck", "SectionContext", "parse_program", "program_schema"]

Days = Annotated[int, within(0, 3650)]


class EarningRuleDoc(RuleFields):
    id: Annotated[str, Identifier(limits.RULE_ID)] = Field(
        description=f"the rule's id, the source its points carry: lower-case letters, digits, '_', '-' or '.', "
        f"up to {limits.RULE_ID} characters"
    )
    name: DisplayName = Field(default=None, description="the rule's name in explanations (its id when absent)")

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if value is None:  # an empty list item ("- " in YAML) is not a rule
            fail("must be a rule: a mapping with an id and one effect")
        return value

    def rule(self) -> EarningRule:
        effect = self.effect()
        assert effect is not None  # one effect, checked by RuleFields
        return EarningRule(self.id, self.name or self.id, effect, self.conditions(), self.max_points_per_order)


class EarningDoc(DocumentModel):
    rules: list[EarningRuleDoc] = Field(
        default=[], description="the earning rules; every matching rule adds its points"
    )
    excluded_categories: Names | None = Field(
        default=None, description="categories that never earn (delivery, gift cards)"
    )
    rounding: Rounding = Field(default=Rounding.DOWN, description="how fractional points become whole")
    pending_days: Days = Field(
        default=0, description="days a purchase's points wait (for returns) before they can be spent"
    )
    members_only: bool = Field(default=True, strict=True, description="whether guests without a card earn nothing")

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[EarningRuleDoc]) -> list[EarningRuleDoc]:
        seen: set[str] = set()
        problems: list[tuple[Loc, str]] = []
        for i, rule in enumerate(rules):
            if rule.id in seen:
                problems.append(((i, "id"), f"duplicate rule id {rule.id!r}"))
            seen.add(rule.id)
        if problems:
            refuse(problems)
        return rules

    def policy(self) -> EarningPolicy:
        return EarningPolicy(
            tuple(rule.rule() for rule in self.rules),
            self.excluded_categories or frozenset(),
            self.rounding,
            self.pending_days,
            self.members_only,
        )


class RedemptionDoc(DocumentModel):
    min_check: Money = Field(default=0, description="the order amount below which no points can be spent")
    max_share_percent: Percent = Field(
        default=100, validate_default=True, description="the most of an order points may pay"
    )
    excluded_categories: Names | None = Field(default=None, description="categories points cannot pay for")
    earn_or_spend: bool = Field(
        default=False, strict=True, description="whether an order paid partly with points earns nothing"
    )

    def policy(self) -> RedemptionPolicy:
        return RedemptionPolicy(
            self.min_check, self.max_share_percent / 100, self.excluded_categories or frozenset(), self.earn_or_spend
        )


def _bounded_date(value: object) -> date:
    """A date between 1900 and 2999: beyond, instants overflow the databases. YAML reads `2026-11-30` as a date."""
    text = str(value)
    try:
        day = value if isinstance(value, date) else date.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date YYYY-MM-DD")
    if not 1900 <= day.year <= 2999:
        fail(f"{text!r} is not a date YYYY-MM-DD between the years 1900 and 2999")
    return day


def _month_day(value: object) -> tuple[int, int]:
    text = str(value)
    match = re.fullmatch(r"(\d{2})-(\d{2})", text)
    if not match:
        fail(f"{text!r} is not a month and day MM-DD, such as 11-30")
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is accepted
    except ValueError:
        fail(f"{text!r} is not a real month and day")
    return month, day


_EXPIRY_KINDS = ("after_days", "on_date", "every_year_on")


class ExpiryDoc(DocumentModel):
    after_days: Annotated[int, within(1, 36500)] | None = Field(
        default=None, description="points burn this many days after"
    )
    on_date: (
        Annotated[date, PlainValidator(_bounded_date), WithJsonSchema({"type": "string", "format": "date"})] | None
    ) = Field(default=None, description="points burn at the end of this date (YYYY-MM-DD)")
    every_year_on: (
        Annotated[
            tuple[int, int], PlainValidator(_month_day), WithJsonSchema({"type": "string", "pattern": r"^\d{2}-\d{2}$"})
        ]
        | None
    ) = Field(default=None, description="points burn at the end of this month and day every year (MM-DD)")
    starts: ExpiryStart = Field(
        default=ExpiryStart.ACCRUAL, description="whether the days count from the purchase or from when points unlock"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ExpiryDoc:
        if len([kind for kind in _EXPIRY_KINDS if getattr(self, kind) is not None]) != 1:
            fail("must be 'never' or a mapping with exactly one of after_days, on_date, every_year_on")
        return self

    def policy(self) -> ExpiryPolicy:
        if self.after_days is not None:
            return ExpiryPolicy(ExpiryKind.AFTER_DAYS, days=self.after_days, starts=self.starts)
        if self.on_date is not None:
            return ExpiryPolicy(ExpiryKind.FIXED_DATE, on_date=self.on_date, starts=self.starts)
        assert self.every_year_on is not None
        month, day = self.every_year_on
        return ExpiryPolicy(ExpiryKind.FIXED_DATE, month=month, day=day, starts=self.starts)


def _never(value: object) -> object:
    return None if value == "never" else value


class CapDoc(DocumentModel):
    count: Annotated[int, within(1)] | None = Field(default=1, description="how many times (null: no cap)")
    per: CapPeriod = Field(default=CapPeriod.LIFETIME, description="in which period")


def _cap(value: object) -> object:
    """`cap: unlimited` (or null, or `{count: null}`) is no cap; `{count, per}` at most `count` per `per`."""
    if value is None or value == "unlimited":
        return CapDoc(count=None)
    if not isinstance(value, dict):
        fail("must be `unlimited` or a mapping {count, per}")
    return value


class ActionDoc(DocumentModel):
    points: Annotated[int, within(1, MAX_POINTS)] = Field(description="the points the action earns")
    cap: Annotated[CapDoc, BeforeValidator(_cap, json_schema_input_type=Literal["unlimited"] | CapDoc | None)] = Field(
        default=CapDoc(), description="how often a member earns them: once per lifetime when absent"
    )
    pending_days: Days = Field(default=0, description="days the points wait before they can be spent")

    def bonus(self, action: str) -> ActionBonus:
        return ActionBonus(
            action,
            self.points,
            self.cap.count,
            self.cap.per,
            self.pending_days,
            cap_given="cap" in self.model_fields_set,
        )


ActionName = Annotated[str, Identifier(limits.ACTION_NAME, "action type")]


class ReturnsDoc(DocumentModel):
    shortfall: Shortfall = Field(
        default=Shortfall.NEGATIVE_BALANCE, description="what happens when a return takes back points already spent"
    )


def _zone(value: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory of zones, not a zone
        fail(f"{value!r} is not an IANA time zone such as Europe/Moscow")


def _program_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limits.NAME:
        fail(f"is required: the program's name, up to {limits.NAME} characters")
    return value.strip()


def _currency(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        fail("must be a three-letter ISO 4217 code such as RUB")
    return value


Kept = Annotated[
    Any,
    WithJsonSchema({"type": "array", "items": {"type": "object"}}),
    Field(default=None, description="definitions another area keeps in this file, checked by it"),
]


class ProgramDocument(DocumentModel):
    """A loyalty program: how orders earn points, how points pay, when they burn, and its tiers and bonuses."""

    name: Annotated[str, PlainValidator(_program_name), WithJsonSchema({"type": "string", "minLength": 1})] = Field(
        description=f"the program's name, up to {limits.NAME} characters"
    )
    currency: Annotated[str, PlainValidator(_currency), WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$"})] = (
        Field(default="RUB", description="the ISO 4217 code of the program's money")
    )
    point_value: PositiveMoney = Field(
        default="1", validate_default=True, description="what one point pays, in the currency"
    )
    timezone: Annotated[
        ZoneInfo, PlainValidator(_zone), WithJsonSchema({"type": "string", "examples": ["Europe/Moscow"]})
    ] = Field(default="UTC", validate_default=True, description="the IANA time zone days and dates are counted in")
    earning: EarningDoc | None = Field(default=None, description="how orders earn points")
    redemption: RedemptionDoc | None = Field(default=None, description="how points pay for orders")
    expiry: Annotated[
        ExpiryDoc | None, BeforeValidator(_never, json_schema_input_type=Literal["never"] | ExpiryDoc | None)
    ] = Field(default=None, description="when points burn: never, or one of after_days, on_date, every_year_on")
    actions: dict[ActionName, ActionDoc] | None = Field(default=None, description="points for actions, by action type")
    returns: ReturnsDoc | None = Field(default=None, description="how returns take back points")
    tiers: TiersDoc | None = Field(default=None, description="tier levels by spend or orders, each with its multiplier")
    referrals: ReferralsDoc | None = Field(default=None, description="points for bringing a friend")
    win_back: WinBackDoc | None = Field(default=None, description="a grant for members who stopped buying")
    campaigns: Kept
    offers: Kept

    @model_validator(mode="after")
    def _known_tiers(self) -> ProgramDocument:
        known = {level.id for level in self.tiers.levels} if self.tiers else set()
        problems: list[tuple[Loc, str]] = []
        for i, rule in enumerate(self.earning.rules if self.earning else ()):
            for tier_id in sorted((rule.tiers or frozenset()) - known):
                problems.append(
                    (
                        ("earning", "rules", i, "tiers"),
                        f"unknown tier {tier_id!r}; the program's tiers are {sorted(known)}",
                    )
                )
        if problems:
            refuse(problems)
        return self

    def program(self, exponent: int) -> Program:
        earning = (self.earning or EarningDoc()).policy()
        return Program(
            self.name,
            self.currency,
            exponent,
            self.point_value,
            self.timezone,
            earning,
            (self.redemption or RedemptionDoc.model_validate({})).policy(),
            self.expiry.policy() if self.expiry else ExpiryPolicy(),
            {action: spec.bonus(action) for action, spec in (self.actions or {}).items()},
            (self.returns or ReturnsDoc()).shortfall,
            self.tiers.policy() if self.tiers else None,
            referrals=self.referrals.policy(earning.pending_days) if self.referrals else None,
            win_back=self.win_back.policy() if self.win_back else None,
        )


def parse_program(document: object, *, sections: Sequence[SectionCheck] = ()) -> Program:
    """The `Program` a document describes; raises InvalidInput listing every problem found, those of `sections`
    included."""
    if not isinstance(document, dict):
        raise InvalidInput(FieldProblem("", "the program document must be a mapping"))
    currency = document.get("currency", "RUB")
    exponent = currency_exponent(currency) if isinstance(currency, str) else 2
    model: ProgramDocument | None = None
    try:
        model = ProgramDocument.model_validate(document, context={"exponent": exponent})
        problems: list[FieldProblem] = []
    except ValidationError as error:
        problems = problems_of(error, ProgramDocument)
    if sections:
        zone = model.timezone if model else _zone_or_none(document.get("timezone", "UTC"))
        tiers = (
            None
            if model is None
            else frozenset(level.id for level in model.tiers.levels)
            if model.tiers
            else frozenset()
        )
        if zone is not None:
            for check in sections:
                problems.extend(check(document, SectionContext(zone, exponent, tiers)))
    if problems or model is None:
        raise InvalidInput(problems)
    return model.program(exponent)


def _zone_or_none(value: object) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def program_schema() -> dict[str, Any]:
    """The JSON Schema of the program document, with the demo program as its example. The campaigns and offers it
    may keep are described by their area (`campaigns.publishing.document_schema`)."""
    demo = documents.read_text(files("loyalty.demo").joinpath("program.yaml").read_text(encoding="utf-8"), "demo")
    return json_schema(ProgramDocument, "Loyalty program document", [demo])
