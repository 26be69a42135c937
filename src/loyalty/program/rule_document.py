"""What a program rule and a campaign's earning part share, as document models: a rule's conditions, its one effect
and its cap per order. The program document (program/document.py) and campaign definitions (campaigns/document.py)
both build on it, so neither imports the other."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from loyalty.core.validation import (
    DocumentModel,
    Loc,
    Money,
    Names,
    Percent,
    PositiveMoney,
    fail,
    refuse,
    validate_with,
    within,
)
from loyalty.program.rules import (
    Band,
    BandsEffect,
    BirthdayCondition,
    CategoryCondition,
    ChannelCondition,
    Condition,
    Effect,
    FixedEffect,
    MinimumOrderCondition,
    PercentEffect,
    PerStepEffect,
    SkuCondition,
    StoreCondition,
    TierCondition,
    ViewedCondition,
)

MAX_POINTS = 10**9  # one rule or bonus never gives more than a billion points
EFFECTS = ("percent", "bands", "per_step", "fixed_points")
Points = Annotated[int, within(1, MAX_POINTS)]


class BandDoc(DocumentModel):
    up_to: Money | None = Field(
        default=None, description="the upper bound of the band (inclusive); only the last may omit it"
    )
    percent: Percent = Field(description="the percent of the part of the amount in this band")


class PerStepDoc(DocumentModel):
    every: PositiveMoney = Field(description="the amount of each step, such as 1000")
    points: Points = Field(description="the points each whole step earns")


class BirthdayDoc(DocumentModel):
    days_before: Annotated[int, within(0, 31)] = Field(
        default=0, description="days before the birthday the rule already applies"
    )
    days_after: Annotated[int, within(0, 31)] = Field(
        default=0, description="days after the birthday the rule still applies"
    )


def _birthday(value: object) -> object:
    if value is True:
        return BirthdayDoc()
    if not isinstance(value, dict):
        fail("must be true (the day itself) or {days_before, days_after}")
    return value


class RuleFields(DocumentModel):
    """The conditions a rule restricts itself by, its effect (exactly one of `EFFECT_KEYS`) and its cap."""

    EFFECT_KEYS: ClassVar[tuple[str, ...]] = EFFECTS

    percent: Percent | None = Field(default=None, description="points as a percent of the eligible amount")
    bands: list[BandDoc] | None = Field(
        default=None, description="a percent by part of the amount, bands in increasing order of up_to"
    )
    per_step: PerStepDoc | None = Field(default=None, description="points for each whole step of the eligible amount")
    fixed_points: Points | None = Field(default=None, description="a fixed number of points per qualifying order")
    max_points_per_order: Points | None = Field(default=None, description="the most points the rule gives one order")
    categories: Names | None = Field(default=None, description="only lines of these categories count")
    exclude_categories: Names | None = Field(default=None, description="lines of these categories never count")
    skus: Names | None = Field(default=None, description="only these SKUs count")
    exclude_skus: Names | None = Field(default=None, description="these SKUs never count")
    channels: Names | None = Field(default=None, description="only orders through these channels")
    stores: Names | None = Field(default=None, description="only orders in these stores")
    min_order_amount: Money | None = Field(default=None, description="only orders of at least this amount")
    tiers: Names | None = Field(default=None, description="only members at these tier levels (their ids)")
    birthday: Annotated[
        BirthdayDoc | None,
        BeforeValidator(_birthday, json_schema_input_type=Literal[True] | BirthdayDoc | None),
    ] = Field(default=None, description="only around the member's birthday: true for the day itself, or a window")
    viewed_within_days: Annotated[int, within(1, 365)] | None = Field(
        default=None, description="only for products the member viewed within these days"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _one_effect(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Exactly one effect, checked on the keys given so that it is reported with the fields' own problems."""
        problems: list[tuple[Loc, str]] = []
        if isinstance(value, dict):
            given = [key for key in cls.EFFECT_KEYS if value.get(key) is not None]
            if len(given) != 1:
                problems.append(((), f"needs exactly one effect of {list(cls.EFFECT_KEYS)}, got {given or 'none'}"))
        return validate_with(value, handler, problems)

    @field_validator("bands")
    @classmethod
    def _ascending(cls, bands: list[BandDoc] | None) -> list[BandDoc] | None:
        if bands is None:
            return None
        if not bands:
            fail("must be a non-empty list of {up_to, percent} bands")
        problems: list[tuple[Loc, str]] = []
        previous: int | None = None
        for i, band in enumerate(bands):
            if band.up_to is None and i != len(bands) - 1:
                problems.append(((i, "up_to"), "only the last band may be open-ended"))
            if band.up_to is not None and previous is not None and band.up_to <= previous:
                problems.append(((i, "up_to"), "bands must be in increasing order of up_to"))
            previous = band.up_to if band.up_to is not None else previous
        if problems:
            refuse(problems)
        return bands

    def effect(self) -> Effect | None:
        """The rule's effect (None for a campaign's multiplier, which is not one)."""
        if self.percent is not None:
            return PercentEffect(self.percent)
        if self.fixed_points is not None:
            return FixedEffect(self.fixed_points)
        if self.per_step is not None:
            return PerStepEffect(self.per_step.every, self.per_step.points)
        if self.bands is not None:
            return BandsEffect(tuple(Band(band.up_to, band.percent) for band in self.bands))
        return None

    def conditions(self) -> tuple[Condition, ...]:
        found: list[Condition] = []
        if self.categories is not None or self.exclude_categories is not None:
            found.append(CategoryCondition(self.categories, self.exclude_categories or frozenset()))
        if self.skus is not None or self.exclude_skus is not None:
            found.append(SkuCondition(self.skus, self.exclude_skus or frozenset()))
        if self.channels is not None:
            found.append(ChannelCondition(self.channels))
        if self.stores is not None:
            found.append(StoreCondition(self.stores))
        if self.tiers is not None:
            found.append(TierCondition(self.tiers))
        if self.birthday is not None:
            found.append(BirthdayCondition(self.birthday.days_before, self.birthday.days_after))
        if self.viewed_within_days is not None:
            found.append(ViewedCondition(self.viewed_within_days))
        if self.min_order_amount is not None:
            found.append(MinimumOrderCondition(self.min_order_amount))
        return tuple(found)
