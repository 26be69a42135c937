"""Experiments, pure: a holdout of members or a split of stores or cities, what its control group goes without, and
who is in which group.

A holdout member is chosen by a hash of (the experiment's seed, the member's id), not by a stored list: the same
member is in the same group from registration on, whichever process asks, and a member who registers tomorrow is
already assigned. The hash is SHA-256, read as a number in [0, 1); the member is held out when it is below `share`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

MAX_SHARE = Decimal("0.5")
_SCALE = 2**64


class Kind(StrEnum):
    HOLDOUT = "holdout"  # a seeded random share of members (of a segment) is the control group
    STORES = "stores"  # the program in the treatment stores and not in the control stores
    CITIES = "cities"  # ... in the treatment cities and not in the control cities (the Chicken Club test)


class Withholds(StrEnum):
    # The control group earns and spends no points at all: no order points, no action, birthday, referral or
    # win-back bonus, no tier move (the README's experiments section lists it all).
    PROGRAM = "program"
    # The control group gets no campaign or offer points at the checkout; the program's own rules and bonuses apply.
    CAMPAIGNS = "campaigns"


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    kind: Kind
    withholds: Withholds
    starts_at: datetime
    ends_at: datetime
    seed: int
    share: Decimal | None = None  # holdout: the share of members held out, in (0, 0.5]
    segment_id: str | None = None  # holdout: drawn only from this segment's members
    treatment: tuple[str, ...] = ()  # stores | cities: with the program
    control: tuple[str, ...] = ()  # stores | cities: without it

    def active_at(self, at: datetime) -> bool:
        """The experiment runs over [starts_at, ends_at)."""
        return self.starts_at <= at < self.ends_at

    def holds_out(self, member_id: int) -> bool:
        """Whether a holdout's member is in its control group (the segment, when there is one, is checked apart)."""
        return self.share is not None and in_holdout(self.seed, self.share, member_id)


@dataclass(frozen=True)
class Holdout:
    """A member (or an order of theirs) in an experiment's control group: what it goes without, and the words the
    quote explains it in (`reason`)."""

    experiment_id: str
    withholds: Withholds
    reason: str
    name: str

    @property
    def source(self) -> str:
        """How an explanation or a record names the experiment that withheld something: `experiment:<id>`."""
        return f"experiment:{self.experiment_id}"

    def withheld(self, what: str) -> str:
        """Why `what` (a bonus, a tier move) was not given: the words an action's result or a job records."""
        return f"control group of experiment {self.experiment_id} ({self.name}): {what} withheld while it runs"


def bucket(seed: int, member_id: int) -> int:
    """Where a member falls in [0, 2**64) for the experiment seeded `seed`: the same for the same pair, always."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{member_id}".encode()).digest()[:8], "big")


def in_holdout(seed: int, share: Decimal, member_id: int) -> bool:
    """The member is held out by the experiment seeded `seed` that holds out `share` of the members: its bucket,
    as a share of 2**64, is below `share` (compared in integers, exactly)."""
    return bucket(seed, member_id) < int(share * _SCALE)


def default_seed(experiment_id: str) -> int:
    """An experiment's seed unless one is given: from its id, so that two experiments hold out different members."""
    return int.from_bytes(hashlib.sha256(experiment_id.encode()).digest()[:6], "big")


def explanation(experiment: Experiment) -> str:
    """What the quote tells a member in an experiment's control group."""
    what = "no points are earned or spent" if experiment.withholds is Withholds.PROGRAM else "no campaign points"
    return f"control group of experiment {experiment.experiment_id} ({experiment.name}): {what} on this order"
