"""Random histories of one account aggregate (tests/ledger/test_properties.py: of use cases).

Without a database: after every step the account's balance is what its changes moved and the sum of its lots minus
its debt, no lot is negative or over its points, a debt is owed only while no lot holds points, every spend drew in
the spend order, and what it hands over to be written adds up. The same history through the repository, on SQLite:
the account loaded again after it was written equals the one written, and the ledger's own audit checks pass."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from loyalty.audit import arithmetic as audit
from loyalty.core.errors import InsufficientPoints
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account, Changes, Spend
from loyalty.ledger.model import Draw, EntryKind, Lot, Provenance, spendable_by_share
from loyalty.storage.database import UnitOfWork, make_engine
from tests.ledger.conftest import run_on_copies
from tests.usecases import NOW

HALF = Decimal("0.5")
MACHINE = Provenance(program_version=1, rule_id="machine")


def spend_key(lot: Lot) -> tuple[object, ...]:
    """The spend order written out (DESIGN.md): soonest expiry first, never-expiring last, then the lot that became
    available first, then the older lot."""
    return (lot.expires_at is None, lot.expires_at or lot.available_at, lot.available_at, lot.lot_no)


class AccountMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = NOW
        self.account = self.start()
        self.moved = self.account.balance  # the balance by what every change reported moving
        self.written = (self.account.balance, self.account.debt)
        self.numbers: set[int] = set(self.account.lots())  # every entry and lot number handed over
        self.drawn = {no: lot.points - lot.remaining for no, lot in self.account.lots().items()}
        self.spends: dict[int, tuple[list[Draw], dict[int, int]]] = {}  # what each spend drew and got back

    def start(self) -> Account:
        account = Account(1, 0, 0, 0, self.clock)
        account.load_lots([])
        return account

    def remainders(self) -> dict[int, int]:
        return {no: lot.remaining for no, lot in self.account.lots().items()}

    @rule(days=st.integers(min_value=0, max_value=60), minutes=st.none() | st.integers(min_value=1, max_value=600))
    def advance(self, days: int, minutes: int | None) -> None:
        self.clock += timedelta(days=days)
        self.account.now = self.clock
        if minutes is not None:
            self.hold(self.clock + timedelta(minutes=minutes))

    def hold(self, until: datetime) -> None:
        self.account.hold(until)

    @rule(
        points=st.integers(min_value=1, max_value=500),
        pending=st.integers(min_value=0, max_value=20),
        lives=st.none() | st.integers(min_value=1, max_value=200),
        share=st.sampled_from([None, None, HALF]),
    )
    def credit(self, points: int, pending: int, lives: int | None, share: Decimal | None) -> None:
        available = self.clock + timedelta(days=pending)
        expires = None if lives is None else available + timedelta(days=lives)
        self.account.credit(EntryKind.EARN, points, self.clock, available, expires, MACHINE, share)
        self.moved += points

    @rule(
        percent=st.integers(min_value=1, max_value=110),
        held=st.integers(min_value=0, max_value=100),
        cap=st.none() | st.integers(min_value=0, max_value=300),
    )
    def spend(self, percent: int, held: int, cap: int | None) -> None:
        account, at = self.account, self.clock
        points = max(1, account.spendable(at, held) * percent // 100)
        caps = None if cap is None else {HALF: cap}
        before, balance = self.remainders(), account.balance
        usable = [lot for lot in account.lots().values() if lot.spendable_at(at)]
        try:
            entry_no = account.spend(points, at, MACHINE, held=held, caps=caps)
        except InsufficientPoints:
            assert (self.remainders(), account.balance) == (before, balance)  # refused: nothing changed
            return
        self.moved -= points
        lots = account.lots()
        drawn = {
            no: before[no] - lot.remaining for no, lot in lots.items() if no in before and lot.remaining != before[no]
        }
        assert sum(drawn.values()) == points
        assert drawn.keys() <= {lot.lot_no for lot in usable}
        capped = caps is not None and sum(n for no, n in drawn.items() if lots[no].max_share == HALF) == cap
        for no in drawn:  # a lot gives points only once every usable lot before it is empty (or capped)
            for other in usable:
                if spend_key(other) < spend_key(lots[no]):
                    assert other.remaining == 0 or (other.max_share == HALF and capped), (no, other)
        self.spends[entry_no] = ([Draw(no, n) for no, n in drawn.items()], {})

    @rule(points=st.integers(min_value=1, max_value=600), own=st.integers(min_value=0), allow_debt=st.booleans())
    def take_back(self, points: int, own: int, allow_debt: bool) -> None:
        numbers = sorted(self.account.lots())
        own_lots = [numbers[own % len(numbers)]] if numbers else []
        taken, shortfall = self.account.take_back(points, self.clock, own_lots, allow_debt, MACHINE)
        assert taken + shortfall == points
        assert shortfall == 0 or (not allow_debt and all(n == 0 for n in self.remainders().values()))
        self.moved -= taken

    def spend_of(self, entry_no: int) -> Spend:
        draws, returned = self.spends[entry_no]
        return Spend(entry_no, draws, dict(returned))

    @precondition(lambda self: self.spends)
    @rule(pick=st.integers(min_value=0), percent=st.integers(min_value=1, max_value=100))
    def give_back(self, pick: int, percent: int) -> None:
        entry_no = sorted(self.spends)[pick % len(self.spends)]
        draws, returned = self.spends[entry_no]
        room = sum(d.points for d in draws) - sum(returned.values())
        if room == 0:
            return
        points = max(1, room * percent // 100)
        spend = self.spend_of(entry_no)
        before, debt = self.remainders(), self.account.debt
        self.account.give_back(points, self.clock, spend, MACHINE)
        after = self.remainders()
        for d in draws:
            returned[d.lot_no] = returned.get(d.lot_no, 0) + after[d.lot_no] - before.get(d.lot_no, 0)
            assert returned[d.lot_no] <= d.points  # never more back into a lot than the spend took from it
        assert sum(after.values()) - sum(before.values()) == points - (debt - self.account.debt)
        self.moved += points

    @rule()
    def expire(self) -> None:
        self.moved -= self.account.expire(self.clock, lambda _at: 1)
        assert not [
            lot
            for lot in self.account.lots().values()
            if lot.remaining and lot.expires_at and lot.expires_at <= self.clock
        ]

    @rule(points=st.integers(min_value=-600, max_value=600).filter(bool))
    def adjust(self, points: int) -> None:
        before, balance = self.remainders(), self.account.balance
        try:
            self.account.adjust(points, self.clock, "machine", "random", None, 1)
        except InsufficientPoints:
            assert -points > sum(before.values())
            assert (self.remainders(), self.account.balance) == (before, balance)
            return
        self.moved += points

    @rule()
    def write(self) -> None:
        self.flush()

    def flush(self) -> None:
        changes = self.account.take_changes()
        if changes is not None:
            self.check(changes)

    def check(self, changes: Changes) -> None:
        """What is handed over to be written adds up: the entries move the balance and the debt as far as the
        account says, every number is new, and each lot's remainder is its points less its draws."""
        balance, debt = self.written
        assert sum(e.points for e in changes.entries) == changes.balance - balance
        assert sum(e.debt_delta for e in changes.entries) == changes.debt - debt
        numbers = [e.entry_no for e in changes.entries] + [n.lot_no for n in changes.new_lots]
        assert len(set(numbers)) == len(numbers) and not self.numbers & set(numbers)
        assert max(numbers) == changes.seq
        self.numbers |= set(numbers)
        for draw in changes.draws:
            self.drawn[draw.lot_no] = self.drawn.get(draw.lot_no, 0) + draw.points
        for no, lot in self.account.lots().items():
            assert lot.points - lot.remaining == self.drawn.get(no, 0), no
        self.written = (changes.balance, changes.debt)

    @invariant()
    def account_holds(self) -> None:
        account = self.account
        lots = account.lots().values()
        assert account.balance == self.moved
        assert account.balance == sum(lot.remaining for lot in lots) - account.debt
        assert all(0 <= lot.remaining <= lot.points for lot in lots)
        assert account.debt >= 0
        assert account.debt == 0 or all(lot.remaining == 0 for lot in lots)  # a credit repays a debt first


def test_the_account_aggregate_keeps_its_invariants_through_random_histories() -> None:
    run_state_machine_as_test(
        AccountMachine, settings=settings(max_examples=150, stateful_step_count=50, deadline=None)
    )


def scanned(account: Account, at: datetime) -> tuple[int, dict[Decimal, int]]:
    """`spendable_split` worked out from a scan of every lot (the rule in loyalty.ledger.model, Lot.spendable_at)."""
    split = spendable_by_share(account.lots().values(), at)
    restricted = {share: n for share, n in split.items() if share is not None}
    return split.get(None, 0) + sum(restricted.values()), restricted


class FollowingAccountMachine(AccountMachine):
    """The same histories on an account that follows time (as a replay's accounts do): what it says is spendable,
    from running totals, is at every step what a scan of its lots says, also when asked about an earlier instant."""

    def start(self) -> Account:
        account = super().start()
        account.follow_time()
        return account

    @rule(days=st.integers(min_value=0, max_value=90))
    def look_back(self, days: int) -> None:
        at = self.clock - timedelta(days=days)
        assert self.account.spendable_split(at) == scanned(self.account, at)

    @rule(days=st.integers(min_value=0, max_value=90))
    def look_ahead(self, days: int) -> None:
        at = self.clock + timedelta(days=days)
        assert self.account.spendable_split(at) == scanned(self.account, at)

    @invariant()
    def totals_are_the_scan(self) -> None:
        assert self.account.spendable_split(self.clock) == scanned(self.account, self.clock)


def test_an_account_following_time_says_what_a_scan_of_its_lots_says() -> None:
    run_state_machine_as_test(
        FollowingAccountMachine, settings=settings(max_examples=150, stateful_step_count=50, deadline=None)
    )


def state(account: Account) -> tuple[object, ...]:
    """What the stored rows of an account say: its figures and its lots that hold points."""
    lots = {
        no: (lot.points, lot.remaining, lot.available_at, lot.expires_at, lot.max_share)
        for no, lot in account.lots().items()
        if lot.remaining
    }
    return (account.balance, account.debt, account.seq, account.hold_until, lots)


class StoredAccountMachine(AccountMachine):
    """The same history of member 1's account (registered with 500 points), through the repository: a write is a
    flush and a commit, then the account is locked and loaded again in a new transaction and must equal the one
    that was written; the changes in between are made on the loaded account."""

    url = ""

    def __init__(self) -> None:
        self.engine = make_engine(self.url)
        self.uow = UnitOfWork(self.engine).__enter__()
        self.given_back: set[int] = set()  # spends given back to since the last write
        self.stored_seq = 0  # the last number written
        super().__init__()

    def teardown(self) -> None:
        self.uow.__exit__(None, None, None)
        self.engine.dispose()

    def start(self) -> Account:
        account = accounts.load_lots(self.uow, accounts.lock(self.uow, 1, self.clock))
        self.stored_seq = account.seq
        return account

    def hold(self, until: datetime) -> None:
        accounts.hold(self.uow, self.account, until)

    def spend_of(self, entry_no: int) -> Spend:
        tracked = super().spend_of(entry_no)
        if entry_no <= self.stored_seq:  # written: read it back, which also loads its lots spent in full
            stored = accounts.spend(self.uow, self.account, entry_no)
            if entry_no not in self.given_back:
                assert sorted(stored.draws, key=lambda d: d.lot_no) == sorted(tracked.draws, key=lambda d: d.lot_no)
                given = {no: n for no, n in tracked.returned.items() if n}
                assert {no: n for no, n in stored.returned.items() if n} == given
        self.given_back.add(entry_no)
        return tracked

    def flush(self) -> None:
        written = state(self.account)
        accounts.flush(self.uow, self.account)
        self.uow.commit()
        self.uow.__exit__(None, None, None)
        self.uow = UnitOfWork(self.engine).__enter__()
        self.account = self.start()
        assert state(self.account) == written
        self.given_back = set()
        c = self.uow.conn
        assert [str(v) for v in audit.account_totals(c) + audit.lot_remainders(c) + audit.entry_movements(c)] == []


def test_an_account_loaded_after_it_was_written_equals_the_one_written(template: Path, tmp_path: Path) -> None:
    run_on_copies(
        StoredAccountMachine,
        template,
        tmp_path,
        settings(max_examples=30, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
    )
