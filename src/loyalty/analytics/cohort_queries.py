"""The grouped SQL behind cohorts and liability over time: a few statements whatever the size of the ledger, the
same on SQLite and PostgreSQL. Instants are put into the period's buckets by `periods.bucket_of`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from loyalty.analytics.periods import Bucket, bucket_of
from loyalty.ledger.model import EntryKind
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

ACTIVE_KINDS = (EntryKind.EARN.value, EntryKind.SPEND.value)  # the KPIs' definition of an active member


def registered_by_bucket(uow: UnitOfWork, buckets: Sequence[Bucket]) -> dict[int, int]:
    """Members registered in each bucket (the cohorts), by bucket number; buckets without any are left out."""
    m = t.members.c
    cohort = bucket_of(m.registered_at, buckets).label("cohort")
    rows = uow.conn.execute(
        select(cohort, func.count())
        .where(m.registered_at >= buckets[0].start, m.registered_at < buckets[-1].end)
        .group_by(cohort)
    )
    return {int(number): int(count) for number, count in rows}


def active_by_cohort(uow: UnitOfWork, buckets: Sequence[Bucket]) -> dict[tuple[int, int], int]:
    """Members of each cohort active (an earn or spend entry) in each bucket: {(cohort, bucket): members}."""
    e, m = t.ledger_entries.c, t.members.c
    first, end = buckets[0].start, buckets[-1].end
    activity = bucket_of(e.occurred_at, buckets).label("month")
    per_member = (
        select(e.account_id, activity)
        .where(e.kind.in_(ACTIVE_KINDS), e.occurred_at >= first, e.occurred_at < end)
        .group_by(e.account_id, activity)
        .subquery("activity")
    )
    cohort = bucket_of(m.registered_at, buckets).label("cohort")
    rows = uow.conn.execute(
        select(cohort, per_member.c.month, func.count())
        .select_from(per_member.join(t.members, m.member_id == per_member.c.account_id))
        .where(m.registered_at >= first, m.registered_at < end)
        .group_by(cohort, per_member.c.month)
    )
    return {(int(c), int(month)): int(count) for c, month, count in rows}


def points_before(uow: UnitOfWork, at: datetime) -> int:
    """The sum of every ledger entry that occurred before `at`: the points outstanding then."""
    e = t.ledger_entries.c
    return int(uow.conn.execute(select(func.coalesce(func.sum(e.points), 0)).where(e.occurred_at < at)).scalar_one())


def points_by_bucket(uow: UnitOfWork, buckets: Sequence[Bucket]) -> dict[int, int]:
    """The net points of the entries that occurred in each bucket, by bucket number."""
    e = t.ledger_entries.c
    number = bucket_of(e.occurred_at, buckets).label("bucket")
    rows = uow.conn.execute(
        select(number, func.sum(e.points))
        .where(e.occurred_at >= buckets[0].start, e.occurred_at < buckets[-1].end)
        .group_by(number)
    )
    return {int(n): int(points) for n, points in rows}
