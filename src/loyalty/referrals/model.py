"""Referrals in the pure domain: the codes members share, and the decisions about a referral — may a member name
this referrer, and does a referral that qualified earn its referrer points or is it void."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from loyalty.core.errors import Conflict, InvalidInput
from loyalty.program.model import ReferralPolicy

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or typed from a receipt
CODE_LENGTH = 8  # 31**8 ≈ 8.5e11 codes: with a million members a fresh draw collides about once in 850,000
NEW_MEMBER_RULE = "referral:new_member"  # the rule id of the new member's bonus entry
REFERRER_RULE = "referral:referrer"  # the rule id of the referrer's reward entry
CAP_REACHED = "cap reached"
MONTHLY_CAP_REACHED = "cap reached for the month"


class ReferralStatus(StrEnum):
    PENDING = "pending"  # waiting for the new member's first order to be past its return window
    REWARDED = "rewarded"  # the referrer got the points
    VOID = "void"  # qualified, but gives nothing (the referrer's cap was reached, or an experiment withheld it)


def new_code() -> str:
    """A random code from an alphabet without look-alike characters, e.g. ``K7QM2XHD``."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(value: object, path: str) -> str:
    """The canonical form of a code as a person typed it: upper case, without spaces or dashes ("k7qm-2xhd")."""
    if not isinstance(value, str):
        raise InvalidInput.at(path, "must be a referral code: 8 letters and digits such as K7QM2XHD")
    code = value.replace(" ", "").replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        raise InvalidInput.at(path, f"{value!r} is not a referral code: 8 letters and digits such as K7QM2XHD")
    return code


@dataclass(frozen=True)
class AttachRequest:
    """What is known when a registered member names a referrer: the referrer's own chain of referrers (nearest
    first), the member's current referrer if any, and whether the member has had an order confirmed."""

    member_id: int
    referrer_id: int
    referrer_chain: Sequence[int]
    current_referrer: int | None
    registered_at: datetime
    has_confirmed_order: bool


def check_attach(request: AttachRequest, policy: ReferralPolicy, now: datetime, path: str = "code") -> None:
    """Refuses a referral that would be self-referral, a loop, a second referrer, too late, or after a purchase.

    Invariant kept: the referred-by relation is a forest — every member has at most one referrer and following
    referrers from anyone never comes back to them."""
    if request.referrer_id == request.member_id:
        raise InvalidInput.at(path, "is the member's own referral code: a member cannot refer themselves")
    if request.member_id in request.referrer_chain:
        raise InvalidInput.at(
            path, f"member {request.referrer_id} was referred, directly or through others, by this member: a loop"
        )
    if request.current_referrer is not None:
        raise Conflict(f"member {request.member_id} was already referred by member {request.current_referrer}")
    deadline = request.registered_at + timedelta(days=policy.attach_within_days)
    if now > deadline:
        raise Conflict(
            f"a referral code can be added within {policy.attach_within_days} days of registering; "
            f"that time ended at {deadline.isoformat()}"
        )
    if request.has_confirmed_order:
        raise Conflict("a referral code can be added only before the member's first confirmed order")


def cap_reached(policy: ReferralPolicy, rewarded: int, rewarded_this_month: int) -> str | None:
    """Why one more rewarded referral would break the referrer's caps (the referral is then void), or None."""
    if policy.max_per_referrer is not None and rewarded >= policy.max_per_referrer:
        return CAP_REACHED
    monthly = policy.max_per_referrer_per_month
    if monthly is not None and rewarded_this_month >= monthly:
        return MONTHLY_CAP_REACHED
    return None
