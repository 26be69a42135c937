"""What the KPIs can be split by: one entry of `DIMENSIONS` per dimension.

A **member** dimension puts members into groups as they are now (a member may be in several segments, holds one
tier); the figures of a group are those of its members. An **order** dimension puts orders into groups (the store
or the channel an order names; an order that names none is in the group `None`); the figures of a group are those
of its orders, and its member figures are those of the members who ordered in it in the period (`ORDER_FIGURES`
says which figures an order dimension has). Every group is a column of SQL, so a split is still a few grouped
statements, whatever the number of groups.

Adding a dimension is adding an entry (the endpoint's `by` and filters, the command's `--by` and the OpenAPI
document follow `DIMENSIONS`), as `city` was: the city of the order's store in the stores registry (an order of no
store, or of a store not registered, is in the group `None`); `known` makes an unknown city a 422 naming `city`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, String, case, literal, null, select

from loyalty.core import limits
from loyalty.core.errors import InvalidInput
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

# The member groups of a dimension at an instant: rows (account_id, grp)
MemberGroups = Callable[[UnitOfWork, datetime], Select[Any]]
# An order's group: given a FROM clause holding `orders`, the clause joined to what the group needs and the group
OrderGroup = Callable[[FromClause], tuple[FromClause, ColumnElement[Any]]]
# The groups a filter may name at an instant; None: any value (a store nobody has ordered in simply has no orders)
KnownGroups = Callable[[UnitOfWork, datetime], Collection[str]] | None
LISTED = 20  # the known groups an error lists at most


@dataclass(frozen=True)
class MemberDimension:
    name: str
    describes: str
    max_length: int
    groups: MemberGroups
    known: KnownGroups = None


@dataclass(frozen=True)
class OrderDimension:
    name: str
    describes: str
    max_length: int
    group: OrderGroup
    known: KnownGroups = None


Dimension = MemberDimension | OrderDimension


def _segment_members(_uow: UnitOfWork, _now: datetime) -> Select[Any]:
    s = t.segment_members.c
    return select(s.account_id, s.segment_id.label("grp"))


def _segments(uow: UnitOfWork, _now: datetime) -> Collection[str]:
    return set(uow.conn.execute(select(t.segments.c.segment_id)).scalars())


def _tier_levels(uow: UnitOfWork, now: datetime) -> list[str]:
    """The tier ids of the program in force now, the base level first (none without a program or tiers)."""
    try:
        tiers = programs.version_at(uow, now).program.tiers
    except programs.NoProgram:
        return []
    return [] if tiers is None else [level.id for level in tiers.levels]


def _tier_holders(uow: UnitOfWork, now: datetime) -> Select[Any]:
    """Every member with the tier they hold now: the stored one, or the program's base level when none is stored
    or the program no longer has it (as `TierPolicy.level` reads it); None when the program has no tiers."""
    m, held = t.members.c, t.member_tiers.c
    levels = _tier_levels(uow, now)
    tier: ColumnElement[Any] = (
        case((held.tier_id.in_(levels), held.tier_id), else_=literal(levels[0], String)) if levels else null()
    )
    return select(m.member_id.label("account_id"), tier.label("grp")).select_from(
        t.members.outerjoin(t.member_tiers, held.account_id == m.member_id)
    )


def _store_city(joined: FromClause) -> tuple[FromClause, ColumnElement[Any]]:
    return joined.outerjoin(t.stores, t.stores.c.store_id == t.orders.c.store), t.stores.c.city


def _cities(uow: UnitOfWork, _now: datetime) -> Collection[str]:
    return set(uow.conn.execute(select(t.stores.c.city).distinct()).scalars())


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        MemberDimension(
            "segment", "the segments members are in now", limits.SEGMENT_ID, _segment_members, known=_segments
        ),
        MemberDimension("tier", "the tier members hold now", limits.TIER_ID, _tier_holders, known=_tier_levels),
        OrderDimension("store", "the store an order names", limits.STORE, lambda joined: (joined, t.orders.c.store)),
        OrderDimension(
            "channel", "the channel an order names", limits.CHANNEL, lambda joined: (joined, t.orders.c.channel)
        ),
        OrderDimension("city", "the city of the store an order names", limits.CITY, _store_city, known=_cities),
    )
}


def dimension(name: str) -> Dimension:
    """The dimension called `name`; InvalidInput naming `by` otherwise."""
    found = DIMENSIONS.get(name)
    if found is None:
        raise InvalidInput.at("by", f"unknown dimension {name!r}; the KPIs split by {', '.join(DIMENSIONS)}")
    return found


def check_group(uow: UnitOfWork, split: Dimension, group: str, now: datetime) -> None:
    """A filter names a group the dimension has: InvalidInput naming the dimension otherwise."""
    if len(group) > split.max_length:
        raise InvalidInput.at(split.name, f"is longer than {split.max_length} characters")
    if split.known is None:
        return
    known = split.known(uow, now)
    if group not in known:
        listed = ", ".join(sorted(known)[:LISTED]) + (", ..." if len(known) > LISTED else "") if known else "none"
        raise InvalidInput.at(split.name, f"unknown {split.name} {group!r}; the known ones are: {listed}")


def chosen_split(by: str | None, filters: dict[str, str]) -> tuple[str | None, str | None]:
    """(by, the one group) from `by` and filters named after dimensions (`segment=vip`): a filter alone splits by
    its dimension; InvalidInput naming the filter for two of them, or one of another dimension than `by`."""
    if not filters:
        return by, None
    (name, group), *others = filters.items()
    if others:
        raise InvalidInput.at(others[0][0], f"filter by one group at a time ({name} is already given)")
    if by is not None and by != name:
        raise InvalidInput.at(name, f"filters the groups of {name}, but the KPIs are split by {by}")
    return name, group
