"""The checkout quote: what a cart may pay with points and what it earns, per line, with the reasons.

`quote` is pure; `calculate` returns it as is and `confirm` records exactly the same numbers, so the price the
customer was shown and the price charged never differ by a rounding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from loyalty.campaigns.model import Campaign, Stacking, by_priority
from loyalty.core.allocation import allocate
from loyalty.core.errors import FieldProblem, InsufficientPoints, InvalidInput
from loyalty.core.money import format_money, round_points
from loyalty.program.model import Program, RedemptionPolicy
from loyalty.program.rules import OrderContext


class CartLine(NamedTuple):
    """One line of a cart in minor units (a named tuple: a cart of a thousand lines is built on every request)."""

    line_id: str
    sku: str
    category: str | None
    quantity: int
    unit_price: int  # minor units
    discount: int = 0  # minor units, off this line

    @property
    def gross(self) -> int:
        return self.quantity * self.unit_price - self.discount


@dataclass(frozen=True)
class Cart:
    lines: tuple[CartLine, ...]
    occurred_at: datetime
    channel: str | None = None
    store: str | None = None
    discount: int = 0  # an order-wide discount, spread over the lines in proportion to their amounts

    def validate(self) -> None:
        problems: list[FieldProblem] = []
        if not self.lines:
            problems.append(FieldProblem("lines", "an order needs at least one line"))
        seen: set[str] = set()
        for i, line in enumerate(self.lines):
            if line.quantity <= 0:
                problems.append(FieldProblem(f"lines[{i}].quantity", f"must be positive, got {line.quantity}"))
            if line.unit_price < 0:
                problems.append(FieldProblem(f"lines[{i}].price", "must not be negative"))
            if line.discount < 0 or line.discount > line.quantity * max(line.unit_price, 0):
                problems.append(FieldProblem(f"lines[{i}].discount", "must be between zero and the line amount"))
            if line.line_id in seen:
                problems.append(FieldProblem(f"lines[{i}].line_id", f"duplicate line id {line.line_id!r}"))
            seen.add(line.line_id)
        if self.occurred_at.tzinfo is None:
            problems.append(FieldProblem("occurred_at", "must carry a time zone offset"))
        gross = sum(line.gross for line in self.lines)
        if self.discount < 0 or (not problems and self.discount > gross):
            problems.append(FieldProblem("discount", "must be between zero and the order amount"))
        if problems:
            raise InvalidInput(problems)

    def line_amounts(self) -> list[int]:
        """Each line's amount after its own discount and its part of the order-wide discount."""
        gross = [line.gross for line in self.lines]
        if self.discount == 0:
            return gross
        shares = allocate(self.discount, gross, gross)
        return [g - s for g, s in zip(gross, shares, strict=True)]


@dataclass(frozen=True)
class Reason:
    """One line of the explanation: which rule or policy fired or blocked, and what it did."""

    source: str
    outcome: str  # "applied" | "blocked" | "limited"
    message: str
    points: int = 0


@dataclass(frozen=True)
class RulePoints:
    rule_id: str
    points: int


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
    policy = _redemption_policy(program, ranked, context, reasons)
    policy_max = _max_payable(program, policy, cart, amounts, total, is_member, reasons)
    max_points = min(policy_max, available)
    spend_caps: tuple[tuple[Decimal, int], ...] = ()
    if restricted:
        max_points, spend_caps = _restricted_max(program, policy, cart, amounts, available, restricted, max_points)
        reasons.extend(_restricted_reasons(restricted, spend_caps, available, max_points, policy_max))
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
    earned = _earn(program, cart, amounts, spent, applied, context, reasons, ranked, campaign_limits or {})
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


def _restricted_max(
    program: Program,
    policy: RedemptionPolicy,
    cart: Cart,
    amounts: list[int],
    available: int,
    restricted: Mapping[Decimal, int],
    max_points: int,
) -> tuple[int, tuple[tuple[Decimal, int], ...]]:
    """The most points payable when some of the `available` ones are restricted, and the cap per share: the
    unrestricted points, plus for each share at most floor(eligible amount × share / point value) of its points.
    The limit applies only to the restricted points; the unrestricted ones keep the program's limit."""
    if any(points < 0 for points in restricted.values()) or sum(restricted.values()) > available:
        raise ValueError("restricted points must be part of the available ones")
    if any(not 0 < share <= 1 for share in restricted):
        raise ValueError("a lot's max_share must be above 0 and at most 1")
    eligible = sum(
        a for line, a in zip(cart.lines, amounts, strict=True) if line.category not in policy.excluded_categories
    )
    caps = tuple(sorted((share, int(eligible * share) // program.point_value) for share in restricted))
    payable = available - sum(restricted.values()) + sum(min(restricted[share], cap) for share, cap in caps)
    return min(max_points, payable), caps


def _restricted_reasons(
    restricted: Mapping[Decimal, int],
    caps: tuple[tuple[Decimal, int], ...],
    available: int,
    max_points: int,
    policy_max: int,
) -> list[Reason]:
    """Why the restricted points limit this order, one reason per share that bites."""
    if max_points >= min(policy_max, available):
        return []
    return [
        Reason(
            "win_back",
            "limited",
            f"win-back points can pay at most {(share * 100).normalize():f}% of the order",
            cap,
        )
        for share, cap in caps
        if restricted[share] > cap
    ]


def _redemption_policy(
    program: Program, ranked: list[Campaign], context: OrderContext, reasons: list[Reason]
) -> RedemptionPolicy:
    """The program's redemption policy, changed by the highest-priority redemption campaign in force."""
    policy = program.redemption
    for campaign in ranked:
        change = campaign.redemption
        if change is None or campaign.reaches(context, program.timezone) or campaign.blocks_order(context):
            continue
        parts = []
        if change.max_share is not None:
            policy = replace(policy, max_share=change.max_share)
            parts.append(f"points can pay up to {(change.max_share * 100).normalize():f}% of the order")
        if change.min_check is not None:
            policy = replace(policy, min_check=change.min_check)
            parts.append(f"from {format_money(change.min_check, program.exponent)} {program.currency}")
        reasons.append(Reason(campaign.source, "applied", f"{campaign.name}: {', '.join(parts)}"))
        break
    return policy


def _max_payable(
    program: Program,
    policy: RedemptionPolicy,
    cart: Cart,
    amounts: list[int],
    total: int,
    is_member: bool,
    reasons: list[Reason],
) -> int:
    if not is_member:
        reasons.append(Reason("redemption", "blocked", "not a member: the order cannot be paid with points"))
        return 0
    if total < policy.min_check:
        reasons.append(
            Reason(
                "redemption.min_check",
                "blocked",
                f"below the {format_money(policy.min_check, program.exponent)} {program.currency} minimum check",
            )
        )
        return 0
    eligible = [
        a for line, a in zip(cart.lines, amounts, strict=True) if line.category not in policy.excluded_categories
    ]
    if len(eligible) < len(amounts):
        reasons.append(
            Reason(
                "redemption.excluded_categories",
                "limited",
                "lines in excluded categories cannot be paid with points",
            )
        )
    by_share = int(sum(eligible) * policy.max_share) // program.point_value
    whole_points = sum(a // program.point_value for a in eligible)
    if policy.max_share < 1:
        reasons.append(
            Reason(
                "redemption.max_share_percent",
                "limited",
                f"points can pay at most {(policy.max_share * 100).normalize():f}% of the order",
                min(by_share, whole_points),
            )
        )
    return min(by_share, whole_points)


def _earn(
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
        _campaigns_earn(program, cart, base, context, campaigns, limits, earned, reasons)
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


def _campaigns_earn(
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
