"""What the earning campaigns in force add to an order, within their per-order caps, budgets and member caps,
and how they stack (`loyalty.campaigns.model.Stacking`): on top of the program's rules, best one per line, or
exclusive of the other campaigns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from loyalty.campaigns.model import Campaign, Stacking
from loyalty.checkout.cart import Cart
from loyalty.checkout.explanation import Reason, RulePoints
from loyalty.core.allocation import allocate
from loyalty.core.money import format_money, round_points
from loyalty.program.model import Program
from loyalty.program.rules import OrderContext


@dataclass
class _Candidate:
    campaign: Campaign
    weights: list[int]
    total: int  # its points before stacking
    base: int  # what the points were worked out on: money, or the program's points for a multiplier
    _parts: list[int] | None = None

    @property
    def parts(self) -> list[int]:
        """Its points line by line; split only for the candidates that survive the stacking."""
        if self._parts is None:
            self._parts = allocate(self.total, self.weights)
        return self._parts

    @property
    def points(self) -> int:
        return sum(self.parts)

    def message(self, program: Program, context: OrderContext) -> str:
        campaign = self.campaign
        if campaign.multiplier is not None:
            how = f"×{campaign.multiplier.normalize():f} on {self.base} points of the program's rules"
        else:
            assert campaign.effect is not None
            money = format_money(self.base, program.exponent)
            how = f"{campaign.effect.describe(context)} of {money} {program.currency}"
        return f"{campaign.name}: {how}"


def campaigns_earn(
    program: Program,
    cart: Cart,
    base: list[int],
    context: OrderContext,
    campaigns: list[Campaign],
    limits: Mapping[str, int],
    earned: list[list[RulePoints]],
    reasons: list[Reason],
) -> None:
    """Add what the earning campaigns in force give, by the stacking policy in `loyalty.campaigns.model`.
    `earned` holds what the program's rules (and the tier) gave each line; it is changed in place."""
    rounding = program.earning.rounding
    rule_points: list[int] | None = None
    candidates: list[_Candidate] = []
    for campaign in campaigns:
        if not campaign.earns or campaign.reaches(context, program.timezone) is not None:
            continue  # not in force for this order or not aimed at this member: nothing to explain
        blocked = campaign.blocks_order(context)
        if blocked is not None:
            reasons.append(Reason(campaign.source, "blocked", f"{campaign.name}: {blocked}"))
            continue
        if campaign.multiplier is not None:
            if rule_points is None:
                rule_points = [sum(p.points for p in parts if not p.rule_id.startswith("tier:")) for parts in earned]
            weights = _admitted(campaign, cart, rule_points, context)
            on = sum(weights)
            points = round_points(Decimal(on) * (campaign.multiplier - 1), rounding)
        else:
            assert campaign.effect is not None
            weights = _admitted(campaign, cart, base, context)
            on = sum(weights)
            points = round_points(campaign.effect.points(on, context), rounding) if on else 0
        if points <= 0:
            continue
        if campaign.max_points_per_order is not None and points > campaign.max_points_per_order:
            points = campaign.max_points_per_order
            reasons.append(
                Reason(campaign.source, "limited", f"{campaign.name}: capped at {points} points per order", points)
            )
        left = limits.get(campaign.id)
        if left is not None and points > left:
            points = max(left, 0)
            reasons.append(
                Reason(campaign.source, "limited", f"{campaign.name}: {_limit_reason(campaign, points)}", points)
            )
            if points == 0:
                continue
        candidates.append(_Candidate(campaign, weights, points, on))
    exclusive = next((c for c in candidates if c.campaign.stacking is Stacking.EXCLUSIVE), None)
    if exclusive is not None:
        for other in candidates:
            if other is not exclusive:
                message = f"{other.campaign.name}: {exclusive.campaign.name} is exclusive"
                reasons.append(Reason(other.campaign.source, "blocked", message))
        candidates = [exclusive]
    _best_per_line(candidates, earned, reasons, [line.line_id for line in cart.lines])
    for candidate in candidates:
        points = candidate.points
        if points == 0:
            continue
        source = candidate.campaign.source
        reasons.append(Reason(source, "applied", candidate.message(program, context), points))
        for i, part in enumerate(candidate.parts):
            if part:
                earned[i].append(RulePoints(source, part))


def _admitted(campaign: Campaign, cart: Cart, values: list[int], context: OrderContext) -> list[int]:
    """`values` on the lines the campaign admits, zero on the others."""
    conditions = campaign.line_conditions
    if not conditions:
        return list(values)
    if len(conditions) == 1:  # the usual case, without the generator of admits_line
        admits = conditions[0].admits_line
        return [v if admits(line, context) else 0 for line, v in zip(cart.lines, values, strict=True)]
    return [v if campaign.admits_line(line, context) else 0 for line, v in zip(cart.lines, values, strict=True)]


def _limit_reason(campaign: Campaign, left: int) -> str:
    if campaign.budget is not None and campaign.per_member_cap is not None:
        return f"its budget and the member's cap leave {left} points"
    if campaign.budget is not None:
        return f"its budget leaves {left} points"
    return f"the member's cap of {campaign.per_member_cap} points leaves {left}"


def _best_per_line(
    candidates: list[_Candidate], earned: list[list[RulePoints]], reasons: list[Reason], line_ids: list[str]
) -> None:
    """Best one wins, line by line: the program's points on a line against each `best` campaign's; the first of
    equals keeps the line, and the program comes first. The explanation names a line by the caller's id."""
    best = [(c, c.parts) for c in candidates if c.campaign.stacking is Stacking.BEST]
    if not best:
        return
    for i, parts in enumerate(earned):
        program_points = sum(p.points for p in parts)
        top, top_parts = max(best, key=lambda pair: pair[1][i])  # max keeps the first of equals: higher priority
        winner = top if top_parts[i] > program_points else None
        if winner is not None and parts:
            replaced = ", ".join(sorted({p.rule_id for p in parts}))
            line = line_ids[i] or i + 1
            reasons.append(
                Reason(
                    "stacking",
                    "applied",
                    f"line {line}: {winner.campaign.name} gives more than {replaced}, which it replaces",
                    -program_points,
                )
            )
            earned[i] = []
        for candidate, candidate_parts in best:
            if candidate is not winner:
                candidate_parts[i] = 0
    for candidate, candidate_parts in best:
        if not any(candidate_parts):
            reasons.append(
                Reason(candidate.campaign.source, "blocked", f"{candidate.campaign.name}: other rules give more")
            )
