"""Where accounts are stored: lock and load a member's account (rows -> `loyalty.ledger.account.Account`), read
what a quote needs without loading every lot, and write what the account changed in a few batched statements.

Locking: every writing use case locks the member's account row first (`lock`) and holds it to the end of its
transaction, so two requests for one balance are serialised; a use case that also locks an order takes the account
first, then the order, and jobs lock many accounts in ascending order, so that no two transactions deadlock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select, update

from loyalty.core.errors import NotFound
from loyalty.ledger.account import Account, Changes, Spend
from loyalty.ledger.events import events_of
from loyalty.ledger.model import Draw, Lot
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def lock(uow: UnitOfWork, account_id: int, now: datetime) -> Account:
    """The account, locked until the end of the transaction; its lots are loaded when a change needs them. The first
    lock of a unit of work reads the stamps along (storage.stamps), so that asking whether an experiment holds the
    member out costs no round trip of its own."""
    if uow.stamps is None:
        row = uow.conn.execute(_LOCK_WITH_STAMPS, {"account_id": account_id}).first()
        if row is not None:
            stamps.remember(uow, row)
    else:
        row = uow.lock_account(account_id)
    if row is None:
        raise NotFound(f"no points account {account_id}")
    return of_row(row, now)


def lock_many(uow: UnitOfWork, account_ids: Sequence[int]) -> None:
    """Lock the accounts `account_ids` until the end of the transaction, in ascending order, as every job locks
    them, so that it never deadlocks with a checkout or another job (SQLite's writer holds its lock already). The
    stamps are read along, as by `lock`, when the unit of work has not read them yet."""
    query = select(t.accounts.c.account_id).where(t.accounts.c.account_id.in_(account_ids))
    if uow.stamps is None:
        query = query.add_columns(*stamps.COLUMNS)
    rows = uow.conn.execute(query.order_by(t.accounts.c.account_id).with_for_update(of=t.accounts)).all()
    if rows and uow.stamps is None:
        stamps.remember(uow, rows[0])


def read(uow: UnitOfWork, account_id: int, now: datetime) -> Account:
    """The account for reading only, without a lock (a quote or a balance)."""
    row = uow.conn.execute(_READ_ACCOUNT, {"account_id": account_id}).first()
    if row is None:
        raise NotFound(f"no points account {account_id}")
    return of_row(row, now)


def of_row(row: Row[Any], now: datetime) -> Account:
    """The account of a row of `accounts` its caller has read (and locked, to change it)."""
    return Account(row.account_id, row.balance, row.debt, row.seq, now, row.hold_until)


def load_lots(uow: UnitOfWork, account: Account) -> Account:
    """The account with its live lots loaded (once per transaction: a change draws from them)."""
    if not account.lots_loaded:
        account.load_lots(_lot(r) for r in uow.conn.execute(_LIVE_LOTS, {"account_id": account.account_id}))
    return account


def held(uow: UnitOfWork, account: Account, except_order: str | None = None) -> int:
    """Points held by live reservations of orders other than `except_order`; a reservation past its time-out holds
    nothing, and an account none of whose reservations can still hold points is not looked at."""
    if not account.may_be_held():
        return 0
    query = select(func.coalesce(func.sum(t.orders.c.hold_points), 0)).where(
        t.orders.c.account_id == account.account_id,
        t.orders.c.status == "reserved",
        t.orders.c.hold_expires_at > account.now,
    )
    if except_order is not None:
        query = query.where(t.orders.c.order_key != except_order)
    return int(uow.conn.execute(query).scalar_one())


def spendable(uow: UnitOfWork, account: Account, at: datetime, held: int = 0) -> int:
    """`Account.spendable`: unless the lots are loaded already (to be drawn from), the database adds up the stored
    ones — a member who shops often has many live lots."""
    if account.lots_loaded:
        return account.spendable(at, held)
    stored = uow.conn.execute(_SPENDABLE, {"account_id": account.account_id, "at": at}).scalar_one()
    return account.spendable(at, held, stored=int(stored))


def spendable_split(uow: UnitOfWork, account: Account, at: datetime, held: int = 0) -> tuple[int, dict[Decimal, int]]:
    """`Account.spendable_split`, the stored lots grouped by the database unless they are loaded already."""
    if account.lots_loaded:
        return account.spendable_split(at, held)
    stored: dict[Decimal | None, int] = {}
    for share, points in uow.conn.execute(_SPENDABLE_BY_SHARE, {"account_id": account.account_id, "at": at}):
        stored[share] = stored.get(share, 0) + int(points)
    return account.spendable_split(at, held, stored=stored)


def spend(uow: UnitOfWork, account: Account, spend_entry_no: int) -> Spend:
    """A stored spend of the account, for a give-back, with the lots it drew from loaded (spent in full or not)."""
    rows = uow.conn.execute(
        select(t.lot_draws.c.lot_no, t.lot_draws.c.points, t.lot_draws.c.returned).where(
            t.lot_draws.c.account_id == account.account_id, t.lot_draws.c.entry_no == spend_entry_no
        )
    ).all()
    load_lots(uow, account)
    missing = {r.lot_no for r in rows} - account.lots().keys()
    if missing:
        account.add_lots(
            _lot(r)
            for r in uow.conn.execute(
                select(*_LOT_COLUMNS).where(t.lots.c.account_id == account.account_id, t.lots.c.lot_no.in_(missing))
            )
        )
    return Spend(spend_entry_no, [Draw(r.lot_no, r.points) for r in rows], {r.lot_no: r.returned for r in rows})


def hold(uow: UnitOfWork, account: Account, until: datetime) -> None:
    """Record that a reservation of the account holds points until `until` (under the account's lock)."""
    if account.hold(until):
        uow.conn.execute(_HOLD_UNTIL, {"a": account.account_id, "h": until})


def flush(uow: UnitOfWork, account: Account) -> None:
    """Write what the account changed since it was loaded or last flushed, in one batched statement per table."""
    changes = account.take_changes()
    if changes is None:
        return
    a = account.account_id
    conn = uow.conn
    for event in events_of(a, changes):
        uow.emit(event, account.now)
    conn.execute(_INSERT_ENTRIES, entry_rows(a, changes))
    if changes.new_lots:
        conn.execute(_INSERT_LOTS, lot_rows(a, changes))
    if changes.remainders:
        conn.execute(_UPDATE_LOT, [{"a": a, "l": no, "r": remaining} for no, remaining in changes.remainders])
    if changes.draws:
        conn.execute(_INSERT_DRAWS, draw_rows(a, changes))
    if changes.returned:
        conn.execute(_RETURN_DRAW, [{"a": a, "e": d.entry_no, "l": d.lot_no, "n": d.points} for d in changes.returned])
    conn.execute(_UPDATE_ACCOUNT, {"a": a, "b": changes.balance, "d": changes.debt, "s": changes.seq})


def write_remainders(uow: UnitOfWork, remainders: Sequence[tuple[int, int, int]]) -> None:
    """Set the remainders of stored lots: (account, lot, remaining), the last one of a lot winning."""
    if remainders:
        uow.conn.execute(_UPDATE_LOT, [{"a": a, "l": no, "r": remaining} for a, no, remaining in remainders])


def write_figures(uow: UnitOfWork, figures: Sequence[tuple[int, int, int, int]]) -> None:
    """Set stored accounts' (account, balance, debt, seq)."""
    if figures:
        uow.conn.execute(_UPDATE_ACCOUNT, [{"a": a, "b": b, "d": d, "s": s} for a, b, d, s in figures])


def entry_rows(account_id: int, changes: Changes) -> list[dict[str, Any]]:
    """The `ledger_entries` rows of `changes`."""
    return [
        {
            "account_id": account_id,
            "entry_no": e.entry_no,
            "kind": e.kind.value,
            "points": e.points,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "program_version": e.provenance.program_version,
            "rule_id": e.provenance.rule_id,
            "order_key": e.provenance.order_key,
            "return_key": e.provenance.return_key,
            "action_key": e.provenance.action_key,
            "lot_no": e.lot_no,
            "debt_delta": e.debt_delta,
            "operator": e.provenance.operator,
            "reason": e.provenance.reason,
            "details": e.provenance.details,
        }
        for e in changes.entries
    ]


def lot_rows(account_id: int, changes: Changes) -> list[dict[str, Any]]:
    """The `lots` rows of the lots `changes` credited, as they stand now."""
    return [
        {
            "account_id": account_id,
            "lot_no": n.lot_no,
            "points": n.points,
            "remaining": n.remaining,
            "available_at": n.available_at,
            "expires_at": n.expires_at,
            "entry_no": n.entry_no,
            "program_version": n.program_version,
            "rule_id": n.rule_id,
            "activated_at": None,
            "max_share": n.max_share,
        }
        for n in changes.new_lots
    ]


def draw_rows(account_id: int, changes: Changes) -> list[dict[str, Any]]:
    """The `lot_draws` rows of `changes`: what each entry took from each lot."""
    return [
        {"account_id": account_id, "entry_no": d.entry_no, "lot_no": d.lot_no, "points": d.points, "returned": 0}
        for d in changes.draws
    ]


def _lot(row: Any) -> Lot:
    return Lot(row.lot_no, row.points, row.remaining, row.available_at, row.expires_at, row.max_share)


# The statements of every order, built once: SQLAlchemy would otherwise construct a statement and compute its cache
# key on each call, which costs more than running it.
_READ_ACCOUNT = select(t.accounts).where(t.accounts.c.account_id == bindparam("account_id"))
_LOT_COLUMNS = (
    t.lots.c.lot_no,
    t.lots.c.points,
    t.lots.c.remaining,
    t.lots.c.available_at,
    t.lots.c.expires_at,
    t.lots.c.max_share,
)
_LIVE_LOTS = select(*_LOT_COLUMNS).where(t.lots.c.account_id == bindparam("account_id"), t.lots.c.remaining > 0)
# Lot.spendable_at in SQL: available_at <= at < expires_at.
_SPENDABLE = select(func.coalesce(func.sum(t.lots.c.remaining), 0)).where(
    t.lots.c.account_id == bindparam("account_id"),
    t.lots.c.remaining > 0,
    t.lots.c.available_at <= bindparam("at"),
    or_(t.lots.c.expires_at.is_(None), t.lots.c.expires_at > bindparam("at")),
)
_SPENDABLE_BY_SHARE = (
    select(t.lots.c.max_share, func.sum(t.lots.c.remaining))
    .where(
        t.lots.c.account_id == bindparam("account_id"),
        t.lots.c.remaining > 0,
        t.lots.c.available_at <= bindparam("at"),
        or_(t.lots.c.expires_at.is_(None), t.lots.c.expires_at > bindparam("at")),
    )
    .group_by(t.lots.c.max_share)
)
_HOLD_UNTIL = update(t.accounts).where(t.accounts.c.account_id == bindparam("a")).values(hold_until=bindparam("h"))
# `UnitOfWork.lock_account`'s statement with the stamps as extra columns; FOR UPDATE OF accounts locks the account
# row only, not the settings the stamps are read from.
_LOCK_WITH_STAMPS = (
    select(t.accounts, *stamps.COLUMNS)
    .where(t.accounts.c.account_id == bindparam("account_id"))
    .with_for_update(of=t.accounts)
)
_INSERT_ENTRIES = t.ledger_entries.insert()
_INSERT_LOTS = t.lots.insert()
_INSERT_DRAWS = t.lot_draws.insert()
_UPDATE_ACCOUNT = (
    update(t.accounts)
    .where(t.accounts.c.account_id == bindparam("a"))
    .values(balance=bindparam("b"), debt=bindparam("d"), seq=bindparam("s"))
)
_UPDATE_LOT = (
    update(t.lots)
    .where(t.lots.c.account_id == bindparam("a"), t.lots.c.lot_no == bindparam("l"))
    .values(remaining=bindparam("r"))
)
_RETURN_DRAW = (
    update(t.lot_draws)
    .where(
        t.lot_draws.c.account_id == bindparam("a"),
        t.lot_draws.c.entry_no == bindparam("e"),
        t.lot_draws.c.lot_no == bindparam("l"),
    )
    .values(returned=t.lot_draws.c.returned + bindparam("n"))
)


def open_account(uow: UnitOfWork, account_id: int) -> None:
    uow.conn.execute(t.accounts.insert().values(account_id=account_id, balance=0, debt=0, seq=0))
