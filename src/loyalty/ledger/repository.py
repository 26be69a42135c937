"""A member's points account inside one transaction: load it under its lock, change it through the domain's
lot policy, then write every new entry, lot and draw in a few batched statements.

The account keeps the ledger's invariants at every step: its balance is the sum of its entries, and the
remainders of its lots minus its debt equal its balance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select, update

from loyalty.core.errors import InsufficientPoints, InvalidInput, NotFound
from loyalty.ledger.model import (
    Draw,
    EntryKind,
    Lot,
    draw_spend,
    draw_take_back,
    expiring,
    give_back,
    spendable,
    spendable_by_share,
)
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


@dataclass
class Account:
    uow: UnitOfWork
    account_id: int
    balance: int
    debt: int
    seq: int
    now: datetime
    hold_until: datetime | None = None  # no reservation holds points after this instant (see tables.accounts)
    _lots: dict[int, Lot] | None = None
    _credited: dict[int, Lot] = field(default_factory=dict)  # lots added since the last flush
    _entries: list[dict[str, Any]] = field(default_factory=list)
    _new_lots: list[dict[str, Any]] = field(default_factory=list)
    _draws: list[dict[str, Any]] = field(default_factory=list)
    _returned: list[dict[str, Any]] = field(default_factory=list)
    _touched: set[int] = field(default_factory=set)
    _dirty: bool = False

    @classmethod
    def lock(cls, uow: UnitOfWork, account_id: int, now: datetime) -> Account:
        row = uow.lock_account(account_id)
        if row is None:
            raise NotFound(f"no points account {account_id}")
        return cls.of_row(uow, row, now)

    @classmethod
    def read(cls, uow: UnitOfWork, account_id: int, now: datetime) -> Account:
        """The account for reading only, without a lock (a quote or a balance)."""
        row = uow.conn.execute(_READ_ACCOUNT, {"account_id": account_id}).first()
        if row is None:
            raise NotFound(f"no points account {account_id}")
        return cls.of_row(uow, row, now)

    @classmethod
    def of_row(cls, uow: UnitOfWork, row: Row[Any], now: datetime) -> Account:
        """The account of a row of `accounts` its caller has read (and locked, to change it)."""
        return cls(uow, row.account_id, row.balance, row.debt, row.seq, now, row.hold_until)

    # Reading

    def lots(self) -> dict[int, Lot]:
        """The lots that still hold points, loaded once per transaction."""
        if self._lots is None:
            rows = self.uow.conn.execute(_LIVE_LOTS, {"account_id": self.account_id})
            self._lots = {r.lot_no: _lot(r) for r in rows}
            self._lots.update(self._credited)  # not written yet
        return self._lots

    def _ensure_lots(self, lot_nos: set[int]) -> None:
        missing = lot_nos - self.lots().keys()
        if missing:
            rows = self.uow.conn.execute(
                select(*_LOT_COLUMNS).where(t.lots.c.account_id == self.account_id, t.lots.c.lot_no.in_(missing))
            )
            for r in rows:
                self.lots()[r.lot_no] = _lot(r)

    def held(self, except_order: str | None = None) -> int:
        """Points held by live reservations of other orders; a reservation past its time-out holds nothing."""
        if self.hold_until is None or self.hold_until <= self.now:
            return 0  # every hold of the account has ended: no need to look for them
        query = select(func.coalesce(func.sum(t.orders.c.hold_points), 0)).where(
            t.orders.c.account_id == self.account_id,
            t.orders.c.status == "reserved",
            t.orders.c.hold_expires_at > self.now,
        )
        if except_order is not None:
            query = query.where(t.orders.c.order_key != except_order)
        return int(self.uow.conn.execute(query).scalar_one())

    def spendable(self, at: datetime, except_order: str | None = None) -> int:
        """Points spendable at `at` less those held for other orders. Unless the lots are loaded already (to be
        drawn from), the database adds up the stored ones: a member who shops often has many live lots."""
        if self._lots is not None:
            total = spendable(self._lots.values(), at)
        else:
            stored = self.uow.conn.execute(_SPENDABLE, {"account_id": self.account_id, "at": at}).scalar_one()
            total = int(stored) + spendable(self._credited.values(), at)
        return max(0, total - self.held(except_order))

    def spendable_split(self, at: datetime, except_order: str | None = None) -> tuple[int, dict[Decimal, int]]:
        """The points `spendable` returns, and how many of them are restricted, per `max_share` (win-back points).
        Points held for other orders are taken from the unrestricted ones first, then from the restricted ones of
        the largest share first, so what is left is never more usable than what the account truly has."""
        split: dict[Decimal | None, int] = {}
        if self._lots is not None:
            split = spendable_by_share(self._lots.values(), at)
        else:
            for share, points in self.uow.conn.execute(_SPENDABLE_BY_SHARE, {"account_id": self.account_id, "at": at}):
                split[share] = split.get(share, 0) + int(points)
            for share, points in spendable_by_share(self._credited.values(), at).items():
                split[share] = split.get(share, 0) + points
        held = self.held(except_order)
        free = split.get(None, 0)
        held_restricted = max(0, held - free)
        restricted: dict[Decimal, int] = {}
        for share, points in sorted(((s, n) for s, n in split.items() if s is not None), reverse=True):
            taken = min(held_restricted, points)
            held_restricted -= taken
            if points > taken:
                restricted[share] = points - taken
        return max(0, free - held) + sum(restricted.values()), restricted

    def hold(self, until: datetime) -> None:
        """Record that a reservation of the account holds points until `until` (under the account's lock)."""
        if self.hold_until is None or until > self.hold_until:
            self.hold_until = until
            self.uow.conn.execute(_HOLD_UNTIL, {"a": self.account_id, "h": until})

    # Changing: every method appends entries; flush() writes them.

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _entry(self, kind: EntryKind, points: int, occurred_at: datetime, **meta: Any) -> int:
        entry_no = self._next()
        self._entries.append(
            {
                "account_id": self.account_id,
                "entry_no": entry_no,
                "kind": kind.value,
                "points": points,
                "occurred_at": occurred_at,
                "recorded_at": self.now,
                "program_version": meta.get("program_version"),
                "rule_id": meta.get("rule_id"),
                "order_key": meta.get("order_key"),
                "return_key": meta.get("return_key"),
                "action_key": meta.get("action_key"),
                "lot_no": meta.get("lot_no"),
                "debt_delta": meta.get("debt_delta", 0),
                "operator": meta.get("operator"),
                "reason": meta.get("reason"),
                "details": meta.get("details"),
            }
        )
        self.balance += points
        self._dirty = True
        return entry_no

    def _record_draws(self, entry_no: int, draws: list[Draw]) -> None:
        for d in draws:
            self._draws.append(
                {
                    "account_id": self.account_id,
                    "entry_no": entry_no,
                    "lot_no": d.lot_no,
                    "points": d.points,
                    "returned": 0,
                }
            )
            self._touched.add(d.lot_no)

    def credit(
        self,
        kind: EntryKind,
        points: int,
        occurred_at: datetime,
        available_at: datetime,
        expires_at: datetime | None,
        max_share: Decimal | None = None,
        **meta: Any,
    ) -> int:
        """Add points as a new lot; a debt left by an earlier return is repaid first. A `max_share` limits the part
        of an order's eligible amount the lot's points may pay (see `loyalty.ledger.model`)."""
        if points <= 0:
            raise ValueError("a credit must be positive")
        repaid = min(self.debt, points)
        self.debt -= repaid
        lot_no = self._next()
        entry_no = self._entry(kind, points, occurred_at, lot_no=lot_no, debt_delta=-repaid, **meta)
        lot = Lot(lot_no, points - repaid, points - repaid, available_at, expires_at, max_share)
        self._credited[lot_no] = lot
        if self._lots is not None:  # else lots() adds it when it loads the others; an order that only earns never does
            self._lots[lot_no] = lot
        self._new_lots.append(
            {
                "account_id": self.account_id,
                "lot_no": lot_no,
                "points": lot.points,
                "remaining": lot.remaining,
                "available_at": available_at,
                "expires_at": expires_at,
                "entry_no": entry_no,
                "program_version": meta.get("program_version"),
                "rule_id": meta.get("rule_id"),
                "activated_at": None,
                "max_share": max_share,
            }
        )
        return entry_no

    def spend(
        self,
        points: int,
        at: datetime,
        except_order: str | None = None,
        caps: dict[Decimal, int] | None = None,
        **meta: Any,
    ) -> int:
        """Spend from lots spendable at `at`, soonest-expiring first, leaving points held by others alone. With
        `caps` (a quote's `spend_caps`), restricted lots give at most their share's cap."""
        available = self.spendable(at, except_order)
        if points > available:
            raise InsufficientPoints.at("points", f"{points} requested but only {available} available")
        draws = draw_spend(list(self.lots().values()), points, at, caps=caps)
        entry_no = self._entry(EntryKind.SPEND, -points, at, **meta)
        self._record_draws(entry_no, draws)
        return entry_no

    def take_back(
        self, points: int, occurred_at: datetime, own_lots: list[int], allow_debt: bool, **meta: Any
    ) -> tuple[int, int]:
        """Take back points a return no longer earns: from the order's own lot first, then soonest-expiring.
        What cannot be found becomes debt (`allow_debt`) or a shortfall. Returns (taken, shortfall)."""
        self._ensure_lots(set(own_lots))
        draws, missing = draw_take_back(list(self.lots().values()), points, own_lots)
        debt = missing if allow_debt else 0
        self.debt += debt
        taken = points - missing + debt
        if taken:
            entry_no = self._entry(EntryKind.RETURN_EARNED, -taken, occurred_at, debt_delta=debt, **meta)
            self._record_draws(entry_no, draws)
        return taken, missing - debt

    def give_back(self, points: int, occurred_at: datetime, spend_entry_no: int, **meta: Any) -> None:
        """Give back points of a spend into the lots it drew from (longest-lived first). A debt left by an earlier
        return is repaid first, as by any credit, so the points given back never let the balance be overdrawn."""
        repaid = min(self.debt, points)
        self.debt -= repaid
        rows = self.uow.conn.execute(
            select(t.lot_draws.c.lot_no, t.lot_draws.c.points, t.lot_draws.c.returned)
            .where(t.lot_draws.c.account_id == self.account_id, t.lot_draws.c.entry_no == spend_entry_no)
            .order_by(t.lot_draws.c.lot_no)
        ).all()
        self._ensure_lots({r.lot_no for r in rows})
        spent = sorted((Draw(r.lot_no, r.points) for r in rows), key=lambda d: _spend_rank(self.lots()[d.lot_no]))
        draws = give_back(self.lots(), spent, {r.lot_no: r.returned for r in rows}, points - repaid)
        entry_no = self._entry(EntryKind.RETURN_SPENT, points, occurred_at, debt_delta=-repaid, **meta)
        self._record_draws(entry_no, [Draw(d.lot_no, -d.points) for d in draws])
        self._returned.extend({"a": self.account_id, "e": spend_entry_no, "l": d.lot_no, "n": d.points} for d in draws)

    def expire(self, at: datetime, version_at: Callable[[datetime], int | None]) -> int:
        """Write off what is left of every lot expired by `at`: one entry per lot that still holds points, at its
        expiry instant and naming the program version in force then. A lot spent in full before it expired has
        nothing left to burn and gets no entry."""
        burned = 0
        for lot in expiring(self.lots().values(), at):
            assert lot.expires_at is not None
            points = lot.remaining
            lot.remaining = 0
            entry_no = self._entry(
                EntryKind.EXPIRE,
                -points,
                lot.expires_at,
                lot_no=lot.lot_no,
                rule_id="expiry",
                program_version=version_at(lot.expires_at),
            )
            self._record_draws(entry_no, [Draw(lot.lot_no, points)])
            burned += points
        return burned

    def adjust(
        self, points: int, at: datetime, operator: str, reason: str, expires_at: datetime | None, program_version: int
    ) -> int:
        """A manual correction by an operator under the program version in force at `at`; a debit takes from any
        lot, soonest-expiring first."""
        if points == 0:
            raise InvalidInput.at("points", "an adjustment must not be zero")
        meta: dict[str, Any] = {
            "operator": operator,
            "reason": reason,
            "rule_id": "adjustment",
            "program_version": program_version,
        }
        if points > 0:
            return self.credit(EntryKind.ADJUST, points, at, at, expires_at, **meta)
        draws, missing = draw_take_back(list(self.lots().values()), -points)
        if missing:
            raise InsufficientPoints.at(
                "points", f"cannot remove {-points} points: the balance holds {-points - missing}"
            )
        entry_no = self._entry(EntryKind.ADJUST, points, at, **meta)
        self._record_draws(entry_no, draws)
        return entry_no

    def flush(self) -> None:
        """Write what this transaction changed, in one batched statement per table."""
        if not self._dirty:
            return
        conn = self.uow.conn
        conn.execute(_INSERT_ENTRIES, self._entries)
        if self._new_lots:
            conn.execute(_INSERT_LOTS, self._new_lots)
        new = {row["lot_no"] for row in self._new_lots}
        changed = [
            {"a": self.account_id, "l": no, "r": self.lots()[no].remaining} for no in sorted(self._touched - new)
        ]
        if changed:
            conn.execute(_UPDATE_LOT, changed)
        if self._draws:
            conn.execute(_INSERT_DRAWS, self._draws)
        if self._returned:
            conn.execute(_RETURN_DRAW, self._returned)
        conn.execute(_UPDATE_ACCOUNT, {"a": self.account_id, "b": self.balance, "d": self.debt, "s": self.seq})
        self._entries, self._new_lots, self._draws, self._returned = [], [], [], []
        self._credited, self._touched = {}, set()
        self._dirty = False


def _lot(row: Any) -> Lot:
    return Lot(row.lot_no, row.points, row.remaining, row.available_at, row.expires_at, row.max_share)


def _spend_rank(lot: Lot) -> tuple[bool, datetime, int]:
    return (lot.expires_at is None, lot.expires_at or lot.available_at, lot.lot_no)


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
