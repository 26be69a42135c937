"""The quote of an order in an experiment's control group (experiments.service.holdout): without the campaigns, or
without the program at all, and saying so in its explanation. The rest of the checkout records it as any quote."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from loyalty.campaigns import offerings
from loyalty.checkout.cart import Cart
from loyalty.checkout.explanation import Reason
from loyalty.checkout.quote import Quote, quote
from loyalty.experiments.model import Holdout, Withholds
from loyalty.program.model import Program


def held_out_quote(
    held: Holdout,
    program: Program,
    cart: Cart,
    available: int,
    requested: int,
    attributes: dict[str, object],
    offer: offerings.Offerings,
    restricted: Mapping[Decimal, int] | None,
) -> tuple[Quote, offerings.Offerings]:
    """`withholds: campaigns`: the program's own quote, no campaign or offer in force. `withholds: program`: the
    order pays no points and earns none, whatever was asked; the one reason given is the experiment's."""
    source = f"experiment:{held.experiment_id}"
    offer = replace(offer, campaigns=[], limits={})
    if held.withholds is Withholds.CAMPAIGNS:
        q = quote(
            program,
            cart,
            available=available,
            requested=requested,
            is_member=True,
            member_attributes=attributes,
            restricted=restricted,
        )
        return replace(q, reasons=(*q.reasons, Reason(source, "blocked", held.reason))), offer
    q = quote(program, cart, available=available, requested=0, is_member=True, member_attributes=attributes)
    message = held.reason if not requested else f"{held.reason}; {requested} points were asked for, none can pay"
    return (
        replace(
            q,
            max_points=0,
            points_to_earn=0,
            lines=tuple(replace(line, points_earned=0, earned_by=()) for line in q.lines),
            reasons=(Reason(source, "blocked", message),),
            spend_caps=(),
        ),
        offer,
    )
