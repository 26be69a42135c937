"""Every member's segment facts as of an instant, read by one set-based statement: purchases aggregated per
member, RFM ranks by window functions (the same SQL on SQLite and PostgreSQL), the tier, the profile and the
consents joined in. Rows are streamed, never fetched one member at a time.

Purchases are orders confirmed (or cancelled: wholly returned) up to the instant, net of returns; an order whose
every unit came back is not a purchase. The profile, tier and consents are the member's current ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Select, and_, case, func, select

from loyalty.program.model import Program
from loyalty.segments.model import MemberFacts, quintile
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

STREAM_ROWS = 2000


def _purchases(as_of: datetime) -> Select[tuple[int, int, int, datetime]]:
    o, lines = t.orders, t.order_lines
    kept = lines.c.amount - (lines.c.amount * lines.c.returned_quantity) // lines.c.quantity
    bought = lines.c.returned_quantity < lines.c.quantity
    return (
        select(
            o.c.account_id,
            func.count(func.distinct(case((bought, o.c.order_key)))).label("purchases"),
            func.sum(kept).label("spend"),
            func.max(case((bought, o.c.occurred_at))).label("last_at"),
        )
        .select_from(o.join(lines, lines.c.order_key == o.c.order_key))
        .where(o.c.account_id.is_not(None), o.c.status.in_(("confirmed", "cancelled")), o.c.occurred_at <= as_of)
        .group_by(o.c.account_id)
    )


def _query(as_of: datetime) -> Select[tuple[object, ...]]:
    bought = _purchases(as_of).subquery("bought")
    buyers = bought.c.purchases > 0
    # Ranks among the members with purchases only: members whose orders all came back take no place in them.
    scored = (
        select(
            bought.c.account_id,
            bought.c.purchases,
            bought.c.spend,
            bought.c.last_at,
            func.rank().over(order_by=bought.c.last_at).label("r_rank"),
            func.rank().over(order_by=bought.c.purchases).label("f_rank"),
            func.rank().over(order_by=bought.c.spend).label("m_rank"),
            func.count().over().label("population"),
        )
        .where(buyers)
        .subquery("scored")
    )
    m, held = t.members, t.member_tiers
    joined = m.outerjoin(scored, scored.c.account_id == m.c.member_id).outerjoin(
        held, held.c.account_id == m.c.member_id
    )
    consent_columns = []
    for kind in ("personal_data", "email", "sms"):
        given = t.consents.alias(f"consent_{kind}")
        joined = joined.outerjoin(given, and_(given.c.member_id == m.c.member_id, given.c.kind == kind))
        consent_columns.append(given.c.granted.label(f"consent_{kind}"))
    return (
        select(
            m.c.member_id,
            m.c.gender,
            m.c.birth_date,
            m.c.attributes,
            held.c.tier_id,
            scored.c.purchases,
            scored.c.spend,
            scored.c.last_at,
            scored.c.r_rank,
            scored.c.f_rank,
            scored.c.m_rank,
            scored.c.population,
            *consent_columns,
        )
        .select_from(joined)
        .where(m.c.registered_at <= as_of)
        .order_by(m.c.member_id)
    )


def member_facts(uow: UnitOfWork, as_of: datetime, program: Program | None) -> Iterator[MemberFacts]:
    """The facts of every member registered by `as_of`, in member order. A member who has no stored tier holds
    the program's first level."""
    tiers = program.tiers if program is not None else None
    query = _query(as_of)
    # Streaming uses a server-side cursor on PostgreSQL, which needs a transaction: a read-only unit of work there
    # reads outside one (see UnitOfWork), so it fetches the rows at once.
    if not (uow.read_only and not uow.is_sqlite):
        query = query.execution_options(yield_per=STREAM_ROWS)
    rows = uow.conn.execute(query)
    for row in rows:
        population = row.population or 0
        consents = frozenset(
            kind for kind in ("personal_data", "email", "sms") if getattr(row, f"consent_{kind}") is True
        )
        yield MemberFacts(
            member_id=int(row.member_id),
            purchase_count=int(row.purchases or 0),
            total_spend=int(row.spend or 0),
            last_purchase_at=row.last_at,
            recency_score=quintile(row.r_rank, population) if population else None,
            frequency_score=quintile(row.f_rank, population) if population else None,
            monetary_score=quintile(row.m_rank, population) if population else None,
            tier=tiers.level(row.tier_id).id if tiers is not None else row.tier_id,
            gender=row.gender,
            birth_date=row.birth_date,
            consents=consents,
            attributes=row.attributes if isinstance(row.attributes, dict) else {},
        )
