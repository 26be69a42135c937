"""The program document's optional sections that carry their own policies: tiers, referrals and win-back."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, PlainValidator, PrivateAttr, ValidationInfo, WithJsonSchema, model_validator

from loyalty.core import limits
from loyalty.core.errors import InvalidInput
from loyalty.core.money import format_money, parse_money
from loyalty.core.validation import DisplayName, DocumentModel, Identifier, Loc, Percent, decimal, fail, refuse, within
from loyalty.program.model import ReferralPolicy, WinBackPolicy
from loyalty.program.rule_document import MAX_POINTS
from loyalty.program.tiers import TierBasis, TierLevel, TierPeriod, TierPolicy

Days = Annotated[int, within(0, 3650)]
MAX_ORDERS = 10**9


def _privileges(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and 0 < len(p) <= limits.NAME for p in value):
        fail(f"must be a list of names of up to {limits.NAME} characters")
    return tuple(value)


class LevelDoc(DocumentModel):
    id: Annotated[str, Identifier(limits.TIER_ID)] = Field(
        description=f"the level's id (lower-case letters, digits, '_', '-' or '.', up to {limits.TIER_ID} characters)"
    )
    name: DisplayName = Field(default=None, description="the level's name members read (its id when absent)")
    threshold: Annotated[
        Any,
        WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]}),
    ] = Field(
        default=0,
        alias="from",
        description="the qualifying spend (an amount) or number of orders from which the level applies; the first "
        "level starts at 0",
    )
    multiplier: Annotated[
        Decimal,
        PlainValidator(decimal(Decimal(1), Decimal(100))),
        WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}]}),
    ] = Field(default=Decimal(1), description="every point the level's orders earn is multiplied by this, 1 to 100")
    privileges: Annotated[
        tuple[str, ...],
        PlainValidator(_privileges),
        WithJsonSchema({"type": "array", "items": {"type": "string", "maxLength": limits.NAME}}),
    ] = Field(default=(), description="what the level gives besides points, in words")


class TiersDoc(DocumentModel):
    """`levels` start at 0 and their thresholds strictly increase, so no two levels overlap."""

    qualify_by: TierBasis = Field(default=TierBasis.SPEND, description="what members qualify by")
    period: TierPeriod = Field(default=TierPeriod.LIFETIME, description="over which period purchases count")
    rolling_days: Annotated[int, within(1, 3650)] = Field(default=365, description="the days of a rolling period")
    grace_days: Days = Field(default=0, description="days a member keeps a level after falling below it")
    levels: list[LevelDoc] = Field(description="the levels, the first from 0, in increasing order of `from`")
    _thresholds: tuple[int, ...] = PrivateAttr(())

    @model_validator(mode="after")
    def _ordered(self, info: ValidationInfo) -> TiersDoc:
        if not self.levels:
            refuse([(("levels",), "must be a non-empty list of levels")])
        exponent = (info.context or {}).get("exponent", 2)
        problems: list[tuple[Loc, str]] = []
        seen: set[str] = set()
        thresholds: list[int] = []
        for i, level in enumerate(self.levels):
            where: Loc = ("levels", i, "from")
            if level.id in seen:
                problems.append((("levels", i, "id"), f"duplicate tier id {level.id!r}"))
            seen.add(level.id)
            try:
                threshold = self._threshold(level.threshold, exponent)
            except ValueError as error:
                problems.append((where, str(error)))
                continue
            if i == 0 and threshold != 0:
                problems.append((where, "the first level must start at 0: it is every member's level"))
            if thresholds and threshold <= thresholds[-1]:
                previous = self._shown(thresholds[-1], exponent)
                problems.append((where, f"must be above the previous level's {previous}: levels may not overlap"))
            thresholds.append(threshold)
        if problems:
            refuse(problems)
        self._thresholds = tuple(thresholds)
        return self

    def _threshold(self, value: object, exponent: int) -> int:
        """A number of orders, or minor units of spend (ValueError with the reason)."""
        if self.qualify_by is TierBasis.ORDERS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be an integer")
            if not 0 <= value <= MAX_ORDERS:
                raise ValueError(f"must be at least 0, got {value}" if value < 0 else f"must be at most {MAX_ORDERS}")
            return value
        try:
            return parse_money(value, exponent, "")
        except InvalidInput as error:
            raise ValueError(error.problems[0].reason) from None

    def _shown(self, threshold: int, exponent: int) -> str:
        """A threshold as the document gives it: a number of orders, or an amount in major units."""
        return str(threshold) if self.qualify_by is TierBasis.ORDERS else format_money(threshold, exponent)

    def policy(self) -> TierPolicy:
        levels = tuple(
            TierLevel(level.id, level.name or level.id, threshold, level.multiplier, level.privileges)
            for level, threshold in zip(self.levels, self._thresholds, strict=True)
        )
        return TierPolicy(levels, self.qualify_by, self.period, self.rolling_days, self.grace_days)


class ReferralsDoc(DocumentModel):
    """A scheme must give someone something; the return window defaults to the earning's pending days."""

    new_member_points: Annotated[int, within(0, MAX_POINTS)] = Field(default=0, description="points for the new member")
    referrer_points: Annotated[int, within(0, MAX_POINTS)] = Field(
        default=0, description="points for the member who referred"
    )
    return_window_days: Days | None = Field(
        default=None, description="days the first order must stay unreturned (default: the earning's pending_days)"
    )
    max_per_referrer: Annotated[int, within(1, 10**6)] | None = Field(
        default=None, description="referrals rewarded per member"
    )
    max_per_referrer_per_month: Annotated[int, within(1, 10**6)] | None = Field(
        default=None, description="referrals rewarded per member each month"
    )
    attach_within_days: Days = Field(
        default=30, description="days after joining a member may still give a referral code"
    )
    pending_days: Days = Field(default=0, description="days the referral's points wait before they can be spent")

    @model_validator(mode="after")
    def _gives_something(self) -> ReferralsDoc:
        problems: list[tuple[Loc, str]] = []
        if self.new_member_points == 0 and self.referrer_points == 0:
            problems.append(((), "gives no points: set new_member_points, referrer_points or both"))
        lifetime, monthly = self.max_per_referrer, self.max_per_referrer_per_month
        if lifetime is not None and monthly is not None and monthly > lifetime:
            problems.append((("max_per_referrer_per_month",), f"must not exceed max_per_referrer ({lifetime})"))
        if problems:
            refuse(problems)
        return self

    def policy(self, earning_pending_days: int) -> ReferralPolicy:
        window = self.return_window_days if self.return_window_days is not None else earning_pending_days
        return ReferralPolicy(
            self.new_member_points,
            self.referrer_points,
            window,
            self.max_per_referrer,
            self.max_per_referrer_per_month,
            self.attach_within_days,
            self.pending_days,
        )


class WinBackDoc(DocumentModel):
    """A grant for members without an order for a while; the share is of an order's eligible amount."""

    inactive_days: Annotated[int, within(1, 36500)] = Field(
        description="the days without an order after which a member gets the grant"
    )
    points: Annotated[int, within(1, MAX_POINTS)] = Field(description="the points of the grant")
    expires_after_days: Annotated[int, within(1, 36500)] = Field(
        description="the days after the grant when its points burn"
    )
    max_share_percent: Percent = Field(
        default=Decimal(50),
        description="the most of an order the grant's points may pay, above 0, with at most two decimals",
    )
    repeat_after_days: Annotated[int, within(1, 36500)] | None = Field(
        default=None, description="days after which a member still inactive may get the grant again"
    )

    @model_validator(mode="after")
    def _share(self) -> WinBackDoc:
        percent = self.max_share_percent
        if percent == 0:
            refuse([(("max_share_percent",), "must be above 0: points that can pay nothing are no gift")])
        if percent != percent.quantize(Decimal("0.01")):
            refuse([(("max_share_percent",), f"must have at most two decimals, got {percent}")])
        return self

    def policy(self) -> WinBackPolicy:
        return WinBackPolicy(
            self.inactive_days,
            self.points,
            self.expires_after_days,
            self.max_share_percent / 100,
            self.repeat_after_days,
        )
