"""How many points an order may pay: the program's redemption policy (changed by a redemption campaign in force),
its minimum check, excluded categories and maximum share, and the limit of restricted (win-back) points."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from loyalty.campaigns.model import Campaign
from loyalty.checkout.cart import Cart
from loyalty.checkout.explanation import Reason
from loyalty.core.money import format_money
from loyalty.program.model import Program, RedemptionPolicy
from loyalty.program.rules import OrderContext


def restricted_max(
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


def restricted_reasons(
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


def redemption_policy(
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


def max_payable(
    program: Program,
    policy: RedemptionPolicy,
    cart: Cart,
    amounts: list[int],
    total: int,
    is_member: bool,
    reasons: list[Reason],
) -> int:
    """The most points `policy` lets this cart pay, whatever the member holds: none for a non-member or below the
    minimum check, else the lesser of `max_share` of the eligible lines' amount and the whole points they are
    worth. Each limit that applies is explained in `reasons`."""
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
