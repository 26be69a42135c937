"""What the checkout needs of campaigns and offers: those in force at an instant, what they need to know about the
member (segments, lists, caps), the points each may still give, and the record of what a confirmed order got.

The campaigns are read once per process and kept while their stamp (storage.stamps) stays the same; any change to a
campaign writes a new stamp (campaigns/service.py), so every process reloads at its next order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite

from loyalty.campaigns.document import parse_campaign
from loyalty.campaigns.model import AudienceKind, Campaign
from loyalty.core.money import format_money
from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.program.rules import OrderContext
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def offers_for(uow: UnitOfWork, member_id: int, now: datetime) -> list[dict[str, Any]]:
    """The personal offers a member has now or will have: aimed at them, enabled and not ended."""
    version = programs.version_at(uow, now)
    program = version.program
    book = _book(uow, program)
    context = _member_context(uow, book, member_id, now)
    offers = []
    for offer in book.campaigns:
        if not offer.personal or not offer.enabled:
            continue
        if offer.schedule.ends_at is not None and offer.schedule.ends_at <= now:
            continue
        if not _aimed_at(offer, context):
            continue
        offers.append(_offer_json(offer, program))
    return offers


def _aimed_at(campaign: Campaign, context: MemberContext) -> bool:
    audience = campaign.audience
    if audience.kind is AudienceKind.SEGMENTS:
        return bool(audience.ids & context.segments)
    if audience.kind is AudienceKind.MEMBERS:
        return campaign.id in context.listed
    return True


def _offer_json(offer: Campaign, program: Program) -> dict[str, Any]:
    tz = program.timezone
    what = []
    if offer.effect is not None:
        # The effect's description reads only the program's money scale from the order.
        scale = OrderContext(
            offer.schedule.starts_at,
            offer.schedule.starts_at.date(),
            None,
            None,
            0,
            True,
            program.point_value,
            program.exponent,
        )
        what.append(offer.effect.describe(scale))
    if offer.multiplier is not None:
        what.append(f"×{offer.multiplier.normalize():f} points")
    if offer.redemption is not None and offer.redemption.max_share is not None:
        what.append(f"points pay up to {(offer.redemption.max_share * 100).normalize():f}% of the order")
    if offer.redemption is not None and offer.redemption.min_check is not None:
        what.append(f"points pay from {format_money(offer.redemption.min_check, program.exponent)} {program.currency}")
    return {
        "id": offer.id,
        "name": offer.name,
        "description": offer.description,
        "benefit": "; ".join(what),
        "valid_from": offer.schedule.starts_at.astimezone(tz).isoformat(),
        "valid_until": offer.schedule.ends_at.astimezone(tz).isoformat() if offer.schedule.ends_at else None,
        "revision": offer.revision,
    }


@dataclass(frozen=True)
class Book:
    """Every campaign and offer, parsed for one program's time zone and currency."""

    stamp: str
    campaigns: tuple[Campaign, ...]
    needs_segments: bool
    needs_lists: bool
    capped: frozenset[str]
    budgeted: frozenset[str]

    def in_force(self, at: datetime) -> list[Campaign]:
        return [
            c
            for c in self.campaigns
            if c.enabled and c.schedule.starts_at <= at and (c.schedule.ends_at is None or at < c.schedule.ends_at)
        ]


@dataclass
class MemberContext:
    segments: frozenset[str] = frozenset()
    listed: frozenset[str] = frozenset()
    limits: dict[str, int] = field(default_factory=dict)  # points each capped or budgeted campaign may still give


_EMPTY = Book("", (), False, False, frozenset(), frozenset())
_books: dict[tuple[str, str, int], Book] = {}


def _book(uow: UnitOfWork, program: Program) -> Book:
    """The campaigns, parsed once per process and change: the stamp was read along with the member's account, or
    costs one primary-key read."""
    stamp = stamps.get(uow, stamps.CAMPAIGNS)
    if stamp is None:
        return _EMPTY
    key = (stamp, program.timezone.key, program.exponent)
    book = _books.get(key)
    if book is None:
        parsed = []
        for row in uow.conn.execute(select(t.campaigns).order_by(t.campaigns.c.campaign_id)):
            definition = dict(row.definition)
            parsed.append(
                parse_campaign(
                    definition,
                    timezone=program.timezone,
                    exponent=program.exponent,
                    personal=row.kind == "offer",
                    revision=row.revision,
                )
            )
        book = book_of(stamp, parsed)
        if len(_books) > 16:
            _books.clear()
        _books[key] = book
    return book


def book_of(stamp: str, campaigns: Sequence[Campaign]) -> Book:
    """The book of `campaigns`, in the order given (the store's: by id)."""
    return Book(
        stamp,
        tuple(campaigns),
        any(c.audience.kind is AudienceKind.SEGMENTS for c in campaigns),
        any(c.audience.kind is AudienceKind.MEMBERS for c in campaigns),
        frozenset(c.id for c in campaigns if c.per_member_cap is not None),
        frozenset(c.id for c in campaigns if c.budget is not None),
    )


# What the checkout reads about a member for the campaigns, in one round trip: the parts the campaigns in force
# need, as (kind, id, number) rows. Built once per combination of parts.
_PARTS = {
    "s": "SELECT 's' AS k, segment_id AS id, 0 AS n FROM segment_members WHERE account_id = :a",
    "l": "SELECT 'l' AS k, campaign_id AS id, 0 AS n FROM campaign_members WHERE account_id = :a",
    "u": "SELECT 'u' AS k, campaign_id AS id, points AS n FROM campaign_member_usage WHERE account_id = :a",
    "b": "SELECT 'b' AS k, campaign_id AS id, budget_points - budget_used AS n FROM campaigns "
    "WHERE budget_points IS NOT NULL",
}
_CONTEXT_QUERIES: dict[str, TextClause] = {}


def _context_query(parts: str) -> TextClause:
    query = _CONTEXT_QUERIES.get(parts)
    if query is None:
        query = _CONTEXT_QUERIES[parts] = text(" UNION ALL ".join(_PARTS[p] for p in parts))
    return query


def _parts(book: Book, active: Mapping[str, Campaign]) -> str:
    wanted = (
        ("s", book.needs_segments),
        ("l", book.needs_lists),
        ("u", book.capped & active.keys()),
        ("b", book.budgeted & active.keys()),
    )
    return "".join(p for p, needed in wanted if needed)


def _read_context(rows: Iterable[Any], book: Book, active: Mapping[str, Campaign]) -> MemberContext:
    segments, listed, used, left = set(), set(), {}, {}
    for kind, ident, number in rows:
        if kind == "s":
            segments.add(ident)
        elif kind == "l":
            listed.add(ident)
        elif kind == "u":
            used[ident] = int(number)
        elif kind == "b":
            left[ident] = int(number)
    return member_context(book, active, segments, listed, used, left)


def member_context(
    book: Book,
    active: Mapping[str, Campaign],
    segments: Iterable[str],
    listed: Iterable[str],
    used: Mapping[str, int],
    budget_left: Mapping[str, int],
) -> MemberContext:
    """What the campaigns in force (`active`, by id) need to know about a member: their segments, the campaigns
    whose lists name them, and the points each capped or budgeted campaign may still give them — the least of
    what is left of their cap (`used`: points they got from it) and of its budget."""
    context = MemberContext(frozenset(segments), frozenset(listed))
    for campaign_id in book.capped & active.keys():
        cap = active[campaign_id].per_member_cap
        assert cap is not None
        context.limits[campaign_id] = cap - used.get(campaign_id, 0)
    for campaign_id in book.budgeted & active.keys():
        left = budget_left.get(campaign_id, 0)
        context.limits[campaign_id] = min(left, context.limits.get(campaign_id, left))
    return context


def _member_context(
    uow: UnitOfWork, book: Book, member_id: int | None, at: datetime, in_force: Sequence[Campaign] | None = None
) -> MemberContext:
    if member_id is None or not book.campaigns:
        return MemberContext()
    active = {c.id: c for c in (in_force if in_force is not None else book.in_force(at))}
    parts = _parts(book, active)
    if not parts:
        return MemberContext()
    return _read_context(uow.conn.execute(_context_query(parts), {"a": member_id}), book, active)


_BUDGETS = (
    select(t.campaigns.c.campaign_id, t.campaigns.c.budget_points - t.campaigns.c.budget_used)
    .where(t.campaigns.c.campaign_id.in_(bindparam("ids", expanding=True)))
    .order_by(t.campaigns.c.campaign_id)
    .with_for_update()
)


@dataclass(frozen=True)
class Offerings:
    """What the checkout passes to the quote."""

    campaigns: list[Campaign]
    attributes: dict[str, object]
    limits: dict[str, int]
    book: Book

    def revision(self, source: str) -> int | None:
        kind, _, campaign_id = source.partition(":")
        if kind not in ("campaign", "offer"):
            return None
        return next((c.revision for c in self.campaigns if c.id == campaign_id), None)


def book(uow: UnitOfWork, program: Program) -> Book:
    """Every campaign and offer, parsed for `program` (for a caller that asks which are in force at many instants)."""
    return _book(uow, program)


def offerings(uow: UnitOfWork, program: Program, member_id: int | None, at: datetime) -> Offerings:
    """The campaigns in force at `at`, what they need to know about the member, and what each may still give.
    In the steady state at most one round trip: the member's context, when a campaign in force needs it."""
    book = _book(uow, program)
    active = book.in_force(at)
    if not active:
        return Offerings([], {}, {}, book)
    return offered(active, _member_context(uow, book, member_id, at, active), book)


NONE = Offerings([], {}, {}, _EMPTY)  # what the quote gets when no campaign is in force


def offered(active: list[Campaign], context: MemberContext, book: Book) -> Offerings:
    """What the quote gets: the campaigns in force and what they need to know about the member."""
    if not active:
        return Offerings([], {}, {}, book)
    return Offerings(active, {"segments": context.segments, "listed": context.listed}, context.limits, book)


def lock_budgets(uow: UnitOfWork, offer: Offerings, earned: Mapping[str, int]) -> dict[str, int] | None:
    """Lock the budget rows of the budgeted campaigns a quote gives points from (`earned`: points by rule source),
    in id order, and return the limits re-read under the lock when they are smaller than the quote assumed (the
    caller then quotes again); None when the quote stands."""
    ids = sorted(c.id for c in offer.campaigns if c.budget is not None and earned.get(c.source, 0) > 0)
    if not ids:
        return None
    rows = uow.conn.execute(_BUDGETS, {"ids": ids})
    fresh = dict(offer.limits)
    for campaign_id, left in rows:
        # What the quote assumed already includes the member's cap; under the lock the budget can only be smaller.
        fresh[campaign_id] = min(int(left), offer.limits[campaign_id])
    return fresh if fresh != offer.limits else None


def record_given(uow: UnitOfWork, offer: Offerings, account_id: int, earned: Mapping[str, int]) -> None:
    """Count what a confirmed order got from each campaign: against its budget, and per member (for the cap and
    the campaign's figures). `earned` is the quote's points by rule source."""
    for campaign in offer.campaigns:
        points = earned.get(campaign.source, 0)
        if points <= 0:
            continue
        if campaign.budget is not None:
            uow.conn.execute(
                sql_update(t.campaigns)
                .where(t.campaigns.c.campaign_id == campaign.id)
                .values(budget_used=t.campaigns.c.budget_used + points)
            )
        uow.conn.execute(
            _ADD_USAGE[uow.conn.dialect.name], {"account_id": account_id, "campaign_id": campaign.id, "points": points}
        )


# Built once: one per confirm that earns from a campaign.
_ADD_USAGE = {
    name: (statement := insert(t.campaign_member_usage)).on_conflict_do_update(
        index_elements=["account_id", "campaign_id"],
        set_={"points": t.campaign_member_usage.c.points + statement.excluded.points},
    )
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
