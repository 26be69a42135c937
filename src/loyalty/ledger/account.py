"""A member's points account as a domain aggregate: its balance, debt, sequence counter and lots, and the ledger's
rules for changing them — a credit repays a debt first, a spend draws in the one spend order (`SPEND_ORDER`), a
return gives back what was spent and takes back what was earned (what cannot be found becomes debt or a
shortfall), expiry burns what is left of a lot, an adjustment corrects by hand.

The aggregate reads and writes nothing. It is built from a stored row (and, when a change needs them, the stored
live lots) by `loyalty.ledger.repository`, and each change it makes is kept as immutable records — entries, new
lots, draws, lot remainders — that `take_changes` hands to the repository to write in a few batched statements.

Invariants, true after every method: the balance is the sum of the account's entries; the remainders of its lots
minus its debt equal its balance; every lot holds between nothing and what it was credited; a debt is owed only
while no lot holds points (every credit and give-back repays it first)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from loyalty.core.errors import InsufficientPoints, InvalidInput
from loyalty.ledger.model import (
    SPEND_ORDER,
    Draw,
    EntryKind,
    Lot,
    MovingSpendable,
    Provenance,
    draw_spend,
    draw_take_back,
    expiring,
    give_back,
    spendable,
    spendable_by_share,
)


class LotsNotLoaded(RuntimeError):
    """A change that draws from lots was asked of an account whose lots were not loaded: a programming error."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One immutable line of the ledger: `points` added (or, negative, removed) and why. A credit names the lot it
    created (`lot_no`); `debt_delta` is how much the entry changed the account's debt."""

    entry_no: int
    kind: EntryKind
    points: int
    occurred_at: datetime
    recorded_at: datetime
    provenance: Provenance
    lot_no: int | None = None
    debt_delta: int = 0


@dataclass(frozen=True, slots=True)
class NewLot:
    """A lot credited since the account was last written, as it stands when written (it may have been drawn from
    since it was credited), with the entry that credited it and where its points come from."""

    lot_no: int
    points: int
    remaining: int
    available_at: datetime
    expires_at: datetime | None
    max_share: Decimal | None
    entry_no: int
    program_version: int | None
    rule_id: str | None


@dataclass(frozen=True, slots=True)
class LotDraw:
    """Entry `entry_no` took `points` from lot `lot_no` (negative: a give-back put them back)."""

    entry_no: int
    lot_no: int
    points: int


@dataclass(frozen=True, slots=True)
class Spend:
    """A stored spend, as a give-back needs it: its entry, the lots it drew from and what earlier give-backs
    returned to each of them."""

    entry_no: int
    draws: Sequence[Draw]
    returned: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class Changes:
    """What an account changed since it was loaded or last written: the rows to insert, the stored lots whose
    remainders moved (lot_no, remaining), the points given back per (spend entry, lot), and the account's new
    figures."""

    entries: list[LedgerEntry]
    new_lots: list[NewLot]
    remainders: list[tuple[int, int]]
    draws: list[LotDraw]
    returned: list[LotDraw]  # entry_no is the spend's, points what a give-back returned to its draw
    balance: int
    debt: int
    seq: int


@dataclass(eq=False)
class Account:
    """The account of one member inside one transaction. `now` is the instant its changes are recorded at;
    `hold_until` is when the last reservation that may hold its points ends."""

    account_id: int
    balance: int
    debt: int
    seq: int
    now: datetime
    hold_until: datetime | None = None
    _lots: dict[int, Lot] | None = field(default=None, repr=False)  # None: not loaded (an order that only earns)
    _credited: dict[int, Lot] = field(default_factory=dict, repr=False)  # lots added since the last write
    _credits: list[tuple[int, int, Provenance]] = field(default_factory=list, repr=False)  # lot, entry, provenance
    _entries: list[LedgerEntry] = field(default_factory=list, repr=False)
    _draws: list[LotDraw] = field(default_factory=list, repr=False)
    _returned: list[LotDraw] = field(default_factory=list, repr=False)
    _touched: set[int] = field(default_factory=set, repr=False)  # lots whose remainders changed
    _moving: MovingSpendable | None = field(default=None, repr=False)  # see follow_time()

    # Lots

    @property
    def lots_loaded(self) -> bool:
        return self._lots is not None

    def load_lots(self, stored: Iterable[Lot]) -> None:
        """Take the stored lots that still hold points; the lots credited since the last write join them."""
        self._lots = {lot.lot_no: lot for lot in stored}
        self._lots.update(self._credited)
        self._moving = None

    def follow_time(self) -> None:
        """Answer `spendable` from running totals (`MovingSpendable`) rather than a scan of the lots: for an account
        asked again and again at later instants, as a replay of history asks it. The lots must be loaded."""
        self._moving = MovingSpendable(self.lots().values())

    def add_lots(self, stored: Iterable[Lot]) -> None:
        """Take stored lots beyond the live ones (spent in full: a give-back refills them); known ones are kept."""
        lots = self.lots()
        for lot in stored:
            if lots.setdefault(lot.lot_no, lot) is lot and self._moving is not None:
                self._moving.add(lot)

    def lots(self) -> dict[int, Lot]:
        """The loaded lots by number: those that held points when loaded, and those credited since."""
        if self._lots is None:
            raise LotsNotLoaded(f"the lots of account {self.account_id} are not loaded")
        return self._lots

    # Reading

    def may_be_held(self) -> bool:
        """Whether a reservation may still hold points; when not, there is no need to look for holds."""
        return self.hold_until is not None and self.hold_until > self.now

    def spendable(self, at: datetime, held: int = 0, stored: int | None = None) -> int:
        """Points spendable at `at` less `held` (points reservations of other orders hold). From the loaded lots,
        or, when they are not loaded, from `stored`, the points of the stored lots spendable at `at`."""
        if self._moving is not None:
            total = sum(self._moving.split(at).values())
        elif self._lots is not None:
            total = spendable(self._lots.values(), at)
        elif stored is not None:
            total = stored + spendable(self._credited.values(), at)
        else:
            raise LotsNotLoaded(f"the lots of account {self.account_id} are not loaded")
        return max(0, total - held)

    def spendable_split(
        self, at: datetime, held: int = 0, stored: Mapping[Decimal | None, int] | None = None
    ) -> tuple[int, dict[Decimal, int]]:
        """The points `spendable` gives, and how many of them are restricted, per `max_share` (win-back points).
        `stored` is the split of the stored lots when the lots are not loaded. Points held for other orders are
        taken from the unrestricted ones first, then from the restricted ones of the largest share first, so what
        is left is never more usable than what the account truly has."""
        if self._moving is not None:
            split = self._moving.split(at)
        elif self._lots is not None:
            split = spendable_by_share(self._lots.values(), at)
        elif stored is not None:
            split = dict(stored)
            for share, points in spendable_by_share(self._credited.values(), at).items():
                split[share] = split.get(share, 0) + points
        else:
            raise LotsNotLoaded(f"the lots of account {self.account_id} are not loaded")
        free = split.get(None, 0)
        held_restricted = max(0, held - free)
        restricted: dict[Decimal, int] = {}
        for share, points in sorted(((s, n) for s, n in split.items() if s is not None), reverse=True):
            taken = min(held_restricted, points)
            held_restricted -= taken
            if points > taken:
                restricted[share] = points - taken
        return max(0, free - held) + sum(restricted.values()), restricted

    # Changing: every method records the entries and draws it makes; take_changes() hands them over.

    def hold(self, until: datetime) -> bool:
        """Note that a reservation holds points until `until`; True when that extends `hold_until`."""
        if self.hold_until is None or until > self.hold_until:
            self.hold_until = until
            return True
        return False

    def credit(
        self,
        kind: EntryKind,
        points: int,
        occurred_at: datetime,
        available_at: datetime,
        expires_at: datetime | None,
        provenance: Provenance,
        max_share: Decimal | None = None,
    ) -> int:
        """Add points as a new lot, numbered just before its entry; a debt left by an earlier return is repaid
        first. A `max_share` limits the part of an order's eligible amount the lot's points may pay (see
        `loyalty.ledger.model`). Returns the entry's number."""
        if points <= 0:
            raise ValueError("a credit must be positive")
        repaid = min(self.debt, points)
        self.debt -= repaid
        lot_no = self._next()
        lot = Lot(lot_no, points - repaid, points - repaid, available_at, expires_at, max_share)
        self._credited[lot_no] = lot
        if self._lots is not None:  # else load_lots() adds it; an order that only earns never loads them
            self._lots[lot_no] = lot
        if self._moving is not None:
            self._moving.add(lot)
        entry_no = self._entry(kind, points, occurred_at, provenance, lot_no=lot_no, debt_delta=-repaid)
        self._credits.append((lot_no, entry_no, provenance))
        return entry_no

    def spend(
        self,
        points: int,
        at: datetime,
        provenance: Provenance,
        held: int = 0,
        caps: Mapping[Decimal, int] | None = None,
    ) -> int:
        """Spend from the lots spendable at `at` in the spend order, leaving alone the `held` points reservations
        of other orders hold. With `caps` (a quote's `spend_caps`), restricted lots give at most their share's cap.
        Raises InsufficientPoints, changing nothing, when the points are not there."""
        available = self.spendable(at, held)
        if points > available:
            raise InsufficientPoints.at("points", f"{points} requested but only {available} available")
        draws = draw_spend(list(self.lots().values()), points, at, SPEND_ORDER, caps)
        entry_no = self._entry(EntryKind.SPEND, -points, at, provenance)
        self._record_draws(entry_no, draws)
        return entry_no

    def take_back(
        self, points: int, occurred_at: datetime, own_lots: Sequence[int], allow_debt: bool, provenance: Provenance
    ) -> tuple[int, int]:
        """Take back points a return no longer earns: from the order's own lots first, then in the spend order,
        pending points too. What cannot be found becomes debt (`allow_debt`: the program's negative balance) or a
        shortfall the return reports. Returns (taken, shortfall)."""
        draws, missing = draw_take_back(list(self.lots().values()), points, own_lots, SPEND_ORDER)
        debt = missing if allow_debt else 0
        self.debt += debt
        taken = points - missing + debt
        if taken:
            entry_no = self._entry(EntryKind.RETURN_EARNED, -taken, occurred_at, provenance, debt_delta=debt)
            self._record_draws(entry_no, draws)
        return taken, missing - debt

    def give_back(self, points: int, occurred_at: datetime, spend: Spend, provenance: Provenance) -> None:
        """Give back points of `spend` into the lots it drew from (the reverse of the spend order: longest-lived
        first). A debt left by an earlier return is repaid first, as by any credit, so the points given back never
        let the balance be overdrawn. The spend's lots must be loaded (`add_lots` for those spent in full)."""
        lots = self.lots()
        if missing := {d.lot_no for d in spend.draws} - lots.keys():
            raise LotsNotLoaded(f"lots {sorted(missing)} of account {self.account_id} are not loaded")
        repaid = min(self.debt, points)
        self.debt -= repaid
        draws = give_back(lots, spend.draws, spend.returned, points - repaid, SPEND_ORDER)
        entry_no = self._entry(EntryKind.RETURN_SPENT, points, occurred_at, provenance, debt_delta=-repaid)
        self._record_draws(entry_no, [Draw(d.lot_no, -d.points) for d in draws])
        self._returned.extend(LotDraw(spend.entry_no, d.lot_no, d.points) for d in draws)

    def expire(self, at: datetime, version_at: Callable[[datetime], int | None]) -> int:
        """Write off what is left of every lot expired by `at`: one entry per lot that still holds points, at its
        expiry instant and naming the program version in force then. A lot spent in full before it expired has
        nothing left to burn and gets no entry. Returns the points burned."""
        burned = 0
        for lot in expiring(self.lots().values(), at):
            assert lot.expires_at is not None
            points = lot.remaining
            lot.remaining = 0
            provenance = Provenance(program_version=version_at(lot.expires_at), rule_id="expiry")
            entry_no = self._entry(EntryKind.EXPIRE, -points, lot.expires_at, provenance, lot_no=lot.lot_no)
            self._record_draws(entry_no, [Draw(lot.lot_no, points)])
            burned += points
        return burned

    def adjust(
        self, points: int, at: datetime, operator: str, reason: str, expires_at: datetime | None, program_version: int
    ) -> int:
        """A manual correction by an operator under the program version in force at `at`; a credit is a new lot,
        a debit takes from any lot, pending too, in the spend order, and is refused beyond the balance."""
        if points == 0:
            raise InvalidInput.at("points", "an adjustment must not be zero")
        provenance = Provenance(program_version=program_version, rule_id="adjustment", operator=operator, reason=reason)
        if points > 0:
            return self.credit(EntryKind.ADJUST, points, at, at, expires_at, provenance)
        there = sum(lot.remaining for lot in self.lots().values())
        if -points > there:
            raise InsufficientPoints.at("points", f"cannot remove {-points} points: the balance holds {there}")
        draws, _ = draw_take_back(list(self.lots().values()), -points, (), SPEND_ORDER)
        entry_no = self._entry(EntryKind.ADJUST, points, at, provenance)
        self._record_draws(entry_no, draws)
        return entry_no

    def take_changes(self) -> Changes | None:
        """What changed since the last call (None: nothing), for the repository to write; the account then
        starts afresh, its lots as they stand now the stored ones."""
        if not self._entries:
            return None
        new_lots = []
        for lot_no, entry_no, provenance in self._credits:
            lot = self._credited[lot_no]
            new_lots.append(
                NewLot(
                    lot_no,
                    lot.points,
                    lot.remaining,
                    lot.available_at,
                    lot.expires_at,
                    lot.max_share,
                    entry_no,
                    provenance.program_version,
                    provenance.rule_id,
                )
            )
        lots = self._lots or {}
        remainders = [(no, lots[no].remaining) for no in sorted(self._touched - self._credited.keys())]
        changes = Changes(
            self._entries, new_lots, remainders, self._draws, self._returned, self.balance, self.debt, self.seq
        )
        self._entries, self._draws, self._returned = [], [], []
        self._credited, self._credits, self._touched = {}, [], set()
        return changes

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _entry(
        self,
        kind: EntryKind,
        points: int,
        occurred_at: datetime,
        provenance: Provenance,
        lot_no: int | None = None,
        debt_delta: int = 0,
    ) -> int:
        entry_no = self._next()
        self._entries.append(LedgerEntry(entry_no, kind, points, occurred_at, self.now, provenance, lot_no, debt_delta))
        self.balance += points
        return entry_no

    def _record_draws(self, entry_no: int, draws: Iterable[Draw]) -> None:
        for d in draws:
            self._draws.append(LotDraw(entry_no, d.lot_no, d.points))
            self._touched.add(d.lot_no)
            if self._moving is not None:
                self._moving.drawn(d.lot_no, d.points)
