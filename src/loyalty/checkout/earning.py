"""What an order earns by the program's rules, with the member's tier multiplier on top, line by line; the
earning campaigns in force are added by `loyalty.checkout.campaign_earning`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from loyalty.campaigns.model import Campaign
from loyalty.checkout.campaign_earning import campaigns_earn
from loyalty.checkout.cart import Cart
from loyalty.checkout.explanation import Reason, RulePoints
from loyalty.core.allocation import allocate
from loyalty.core.money import format_money, round_points
from loyalty.program.model import Program
from loyalty.program.rules import OrderContext


def earn(
    program: Program,
    cart: Cart,
    amounts: list[int],
    spent: list[int],
    applied: int,
    context: OrderContext,
    reasons: list[Reason],
    campaigns: list[Campaign],
    limits: Mapping[str, int],
) -> list[list[RulePoints]]:
    """The points each line earns, by source: each program rule with the member's tier bonus on it, then the
    earning `campaigns` within their `limits`. Nothing is earned by a non-member of a members-only program, nor by
    an order paid partly with points under earn-or-spend; otherwise the part of a line paid with points
    (`spent`) and the excluded categories earn nothing. What applied, was limited or blocked goes to `reasons`."""
    earned: list[list[RulePoints]] = [[] for _ in amounts]
    policy = program.earning
    if not context.is_member and policy.members_only:
        reasons.append(Reason("earning", "blocked", "not a member: the order earns no points"))
        return earned
    if applied and program.redemption.earn_or_spend:
        reasons.append(
            Reason(
                "redemption.earn_or_spend",
                "blocked",
                "earn or spend: an order paid partly with points earns no points",
            )
        )
        return earned
    # The part of a line paid with points never earns, and neither do the excluded categories.
    base = [
        0 if line.category in policy.excluded_categories else amount - s * program.point_value
        for line, amount, s in zip(cart.lines, amounts, spent, strict=True)
    ]
    for rule in policy.rules:
        blocked = rule.blocks_order(context)
        if blocked is not None:
            reasons.append(Reason(rule.id, "blocked", f"{rule.name}: {blocked}"))
            continue
        weights = [b if rule.admits_line(line, context) else 0 for line, b in zip(cart.lines, base, strict=True)]
        rule_base = sum(weights)
        if rule_base == 0:
            continue
        points = round_points(rule.effect.points(rule_base, context), policy.rounding)
        if rule.max_points_per_order is not None and points > rule.max_points_per_order:
            points = rule.max_points_per_order
            reasons.append(Reason(rule.id, "limited", f"{rule.name}: capped at {points} points per order", points))
        reasons.append(
            Reason(
                rule.id,
                "applied",
                f"{rule.name}: {rule.effect.describe(context)} of "
                f"{format_money(rule_base, program.exponent)} {program.currency}",
                points,
            )
        )
        parts = allocate(points, weights)
        for i, part in enumerate(parts):
            if part:
                earned[i].append(RulePoints(rule.id, part))
        _tier_bonus(program, rule.name, points, parts, context, earned, reasons)
    if any(c.earns for c in campaigns):
        campaigns_earn(program, cart, base, context, campaigns, limits, earned, reasons)
    return earned


def _tier_bonus(
    program: Program,
    rule_name: str,
    points: int,
    parts: list[int],
    context: OrderContext,
    earned: list[list[RulePoints]],
    reasons: list[Reason],
) -> None:
    """The member's tier multiplies what a rule earned; the extra points are the tier's own, line by line, so
    every point names what produced it."""
    if program.tiers is None or points == 0:
        return
    level = program.tiers.level(_tier_id(context))
    if level.multiplier == 1:
        return
    extra = round_points(Decimal(points) * (level.multiplier - 1), program.earning.rounding)
    if extra <= 0:
        return
    source = f"tier:{level.id}"
    reasons.append(Reason(source, "applied", f"{level.name}: ×{level.multiplier.normalize():f} on {rule_name}", extra))
    for i, part in enumerate(allocate(extra, parts)):
        if part:
            earned[i].append(RulePoints(source, part))


def _tier_id(context: OrderContext) -> str | None:
    tier = context.member_attributes.get("tier")
    return tier if isinstance(tier, str) else None
