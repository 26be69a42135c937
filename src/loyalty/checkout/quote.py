"""The checkout quote: what a cart may pay with points and what it earns, per line, with the reasons.

`quote` is pure; `calculate` returns it as is and `confirm` records exactly the same numbers, so the price the
customer was shown and the price charged never differ by a rounding. Its parts: `cart` (what is priced),
`redemption` (how many points the order may pay), `earning` (the program's rules and the tier bonus),
`campaign_earning` (the earning campaigns and their stacking), `explanation` (the reasons)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty.campaigns.model import Campaign, by_priority
from loyalty.checkout.cart import Cart
from loyalty.checkout.earning import earn
from loyalty.checkout.explanation import Reason, RulePoints
from loyalty.checkout.redemption import max_payable, redemption_policy, restricted_max, restricted_reasons
from loyalty.core.allocation import allocate
from loyalty.core.errors import InsufficientPoints, InvalidInput
from loyalty.program.model import Program
from loyalty.program.rules import OrderContext


@dataclass(frozen=True)
class QuoteLine:
    line_id: str
    sku: str
    category: str | None
    quantity: int
    amount: int
    points_applied: int
    amount_to_pay: int
    points_earned: int
    earned_by: tuple[RulePoints, ...]


@dataclass(frozen=True)
class Quote:
    total: int
    max_points: int
    points_applied: int
    points_money: int
    amount_to_pay: int
    points_to_earn: int
    available_at: datetime
    expires_at: datetime | None
    lines: tuple[QuoteLine, ...]
    reasons: tuple[Reason, ...]
    # Per `max_share` of restricted (win-back) points: the most of them this order may spend; the spend obeys it.
    spend_caps: tuple[tuple[Decimal, int], ...] = ()

    @property
    def earned_by_rule(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for line in self.lines:
            for part in line.earned_by:
                totals[part.rule_id] = totals.get(part.rule_id, 0) + part.points
        return totals


def quote(
    program: Program,
    cart: Cart,
    *,
    available: int,
    requested: int,
    is_member: bool,
    member_attributes: dict[str, object] | None = None,
    campaigns: Sequence[Campaign] = (),
    campaign_limits: Mapping[str, int] | None = None,
    restricted: Mapping[Decimal, int] | None = None,
) -> Quote:
    """Price `cart` for a member who has `available` spendable points and asks to pay `requested` of them.

    Asking for more than `available` is an error; asking for more than the policy allows is limited to the
    maximum and explained. `campaigns` are those that may apply (the quote checks their time box, audience and
    conditions); `campaign_limits` are the points each may still give (budget and the member's cap). Points applied never exceed any line's amount; earned and applied points are
    allocated to lines by largest remainder and add up to the order's totals exactly.

    `restricted` are the member's spendable points that carry their own limit (win-back points), per `max_share`;
    they are part of `available`. Those of a share pay at most that part of the eligible amount, whatever the
    program allows; the quote's `spend_caps` tell the spend how many of each it may take.
    """
    cart.validate()
    if requested < 0:
        raise InvalidInput.at("points", "must not be negative")
    if requested > 0 and not is_member:
        raise InvalidInput.at("points", "only a member can pay with points")
    if requested > available:
        raise InsufficientPoints.at("points", f"{requested} requested but only {available} available")
    amounts = cart.line_amounts()
    total = sum(amounts)
    money = program.point_value
    reasons: list[Reason] = []
    context = OrderContext(
        cart.occurred_at,
        cart.occurred_at.astimezone(program.timezone).date(),
        cart.channel,
        cart.store,
        total,
        is_member,
        money,
        program.exponent,
        member_attributes or {},
        cart.occurred_at.astimezone(program.timezone),
    )
    ranked = by_priority(list(campaigns))
    policy = redemption_policy(program, ranked, context, reasons)
    policy_max = max_payable(program, policy, cart, amounts, total, is_member, reasons)
    max_points = min(policy_max, available)
    spend_caps: tuple[tuple[Decimal, int], ...] = ()
    if restricted:
        max_points, spend_caps = restricted_max(program, policy, cart, amounts, available, restricted, max_points)
        reasons.extend(restricted_reasons(restricted, spend_caps, available, max_points, policy_max))
    applied = min(requested, max_points)
    if requested > max_points and requested <= available:
        reasons.append(
            Reason(
                "redemption",
                "limited",
                f"{requested} points requested, at most {max_points} can pay for this order",
                applied,
            )
        )
    eligible = [
        a if line.category not in program.redemption.excluded_categories else 0
        for line, a in zip(cart.lines, amounts, strict=True)
    ]
    spent = allocate(applied, eligible, [a // money for a in eligible]) if applied else [0] * len(amounts)
    earned = earn(program, cart, amounts, spent, applied, context, reasons, ranked, campaign_limits or {})
    lines = tuple(
        QuoteLine(
            line.line_id,
            line.sku,
            line.category,
            line.quantity,
            amount,
            spent_i,
            amount - spent_i * money,
            sum(p.points for p in parts),
            tuple(parts),
        )
        for line, amount, spent_i, parts in zip(cart.lines, amounts, spent, earned, strict=True)
    )
    available_at = cart.occurred_at + timedelta(days=program.earning.pending_days)
    expires_at = program.expiry.expires_at(cart.occurred_at, available_at, program.timezone)
    return Quote(
        total,
        max_points,
        applied,
        applied * money,
        total - applied * money,
        sum(line.points_earned for line in lines),
        available_at,
        expires_at,
        lines,
        tuple(reasons),
        spend_caps=spend_caps,
    )
