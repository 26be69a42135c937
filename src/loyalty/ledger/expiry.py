"""Expiry of many accounts at once, in SQL: for a batch of accounts locked by the caller, what `Account.expire`
followed by `repository.flush` writes for each of them, done by a few statements for the whole batch.

For every lot of the batch with `expires_at <= as_of` and a remainder: one `expire` entry for what is left (at the
lot's expiry, naming the program version in force then, rule `expiry`, the lot's number, no debt moved), one draw
of that much from the lot, the lot's remainder set to 0; each account's balance goes down by what it lost and its
counter (`seq`) up by the entries it got. Entries are numbered from the account's own counter in the order
`expiring` gives the lots (soonest expiry first, then by lot number), as the per-account path numbers them.

Why SQL and not the aggregate: loading and flushing one account at a time is ~6 statements per account; these are
5 per batch of thousands, so a run costs about what its rows cost to write. The ledger's invariants hold after each
statement that matters to them only once all have run, which is why the caller runs them in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, ColumnElement, and_, func, insert, literal, select, update

from loyalty.ledger.model import EntryKind
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

RULE_ID = "expiry"  # the rule an expire entry names, as `Account.expire` names it


@dataclass(frozen=True, slots=True)
class Expired:
    """What expiry burned in one account: `points` from `lots` lots, the latest of which expired at `latest`, and
    the balance left."""

    account_id: int
    points: int
    lots: int
    balance: int
    latest: datetime


def burn(uow: UnitOfWork, account_ids: Sequence[int], as_of: datetime, now: datetime) -> list[Expired]:
    """Write off what is left of every lot of `account_ids` expired by `as_of`, recorded at `now`; the accounts
    must be locked by the caller. Returns, per account that had something to burn (ascending), what it lost.
    Lots spent in full or burned already hold nothing, so a second run as of the same instant changes nothing."""
    lo, a = t.lots.c, t.accounts.c
    due = and_(_among(lo.account_id, account_ids), lo.expires_at <= as_of, lo.remaining > 0)
    # Every statement reads the batch's due lots, not the ledger, which is many times larger; the entries and the
    # draws number them alike, as the accounts' counters move only once both are written.
    entry_no = a.seq + func.row_number().over(partition_by=lo.account_id, order_by=(lo.expires_at, lo.lot_no))
    lots = (
        select(lo.account_id, lo.lot_no, lo.remaining, lo.expires_at, entry_no.label("entry_no"))
        .select_from(t.lots.join(t.accounts, a.account_id == lo.account_id))
        .where(due)
        .subquery("due")
    )
    d = lots.c
    entries = select(
        d.account_id,
        d.entry_no,
        literal(EntryKind.EXPIRE.value),
        -d.remaining,
        d.expires_at,
        literal(now, t.UTCDateTime()),
        programs.versions_in_force_sql(uow, d.expires_at),
        literal(RULE_ID),
        d.lot_no,
        literal(0),
        literal(None, JSON()),  # the JSON null the per-account path stores for an entry without details
    )
    uow.conn.execute(insert(t.ledger_entries).from_select(_ENTRY_COLUMNS, entries))
    draws = select(d.account_id, d.entry_no, d.lot_no, d.remaining, literal(0))
    uow.conn.execute(insert(t.lot_draws).from_select(_DRAW_COLUMNS, draws))
    totals = uow.conn.execute(
        select(lo.account_id, func.sum(lo.remaining), func.count(), func.max(lo.expires_at))
        .where(due)
        .group_by(lo.account_id)
    ).all()
    if not totals:
        return []
    uow.conn.execute(update(t.lots).where(due).values(remaining=0))
    return _advance(uow, [(row[0], int(row[1]), int(row[2]), row[3]) for row in totals])


_ENTRY_COLUMNS = [
    "account_id",
    "entry_no",
    "kind",
    "points",
    "occurred_at",
    "recorded_at",
    "program_version",
    "rule_id",
    "lot_no",
    "debt_delta",
    "details",
]
_DRAW_COLUMNS = ["account_id", "entry_no", "lot_no", "points", "returned"]


def _among(column: ColumnElement[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """`column` is one of `ids`. The range around them adds nothing to that but lets PostgreSQL read the batch's
    slice of the table's key index instead of the whole table, whatever it guesses a long IN list selects."""
    return and_(column >= min(ids), column <= max(ids), column.in_(ids))


def _advance(uow: UnitOfWork, totals: list[tuple[int, int, int, datetime]]) -> list[Expired]:
    """Take the points of the new entries (those numbered past its counter) off each account's balance and move
    its counter past them."""
    a, e = t.accounts.c, t.ledger_entries.c
    new = and_(e.account_id == a.account_id, e.entry_no > a.seq)
    balances: dict[int, int] = dict(
        uow.conn.execute(  # both expressions read the row as it was: the counter before it moved
            update(t.accounts)
            .where(_among(a.account_id, [account_id for account_id, *_ in totals]))
            .values(
                balance=a.balance + select(func.sum(e.points)).where(new).scalar_subquery(),
                seq=select(func.max(e.entry_no)).where(new).scalar_subquery(),
            )
            .returning(a.account_id, a.balance)
        ).all()
    )
    return [
        Expired(account_id, points, lots, int(balances[account_id]), latest)
        for account_id, points, lots, latest in sorted(totals)
    ]
