"""Random histories (on SQLite, and of the account aggregate alone).

Of use cases: after every step the audit finds nothing, each balance is the sum of its entries and the lots minus
the debt, nothing more than the balance is spendable, and the balances add up to what the use cases reported moving.

Of one account aggregate, without a database: after every step its balance is what its changes moved and the sum
of its lots minus its debt, no lot is negative or over its points, a debt is owed only while no lot holds points,
every spend drew in the spend order, and what it hands over to be written adds up. The same history through the
repository: loading the account after it was written gives back an equal aggregate, and the ledger's own audit
checks pass."""

from __future__ import annotations

import itertools
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from loyalty.audit import service as audit
from loyalty.checkout import returns
from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.core.errors import Conflict, InsufficientPoints
from loyalty.engagement import actions
from loyalty.ledger import jobs
from loyalty.ledger import repository as accounts
from loyalty.ledger import service as ledger
from loyalty.ledger.account import Account, Changes, Spend
from loyalty.ledger.model import Draw, EntryKind, Lot, Provenance
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine
from loyalty.storage.migrate import upgrade
from tests.usecases import NOW, PHONE, publish, register, seed_program

PHONES = [PHONE, "+79123456780"]
MONEY = st.integers(min_value=1, max_value=800_000).map(lambda kopecks: f"{kopecks // 100}.{kopecks % 100:02d}")
# The points an order pays with: none, or a percentage of what is available (just over 100: more than there is).
SPEND = st.one_of(st.none(), st.integers(min_value=1, max_value=101), st.just(100))
# Mostly the first member, so that what one use case does to a balance meets what the next one does.
WHO = st.sampled_from([0, 0, 0, 1])
LINES = st.lists(st.tuples(MONEY, st.integers(min_value=1, max_value=4)), min_size=1, max_size=3)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the seed program and two members (500 points each), copied per example."""
    path = tmp_path_factory.mktemp("ledger-machine") / "template.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    publish(engine)
    for phone in PHONES:
        register(engine, phone)
    engine.dispose()  # closing the last connection checkpoints the write-ahead log into the file
    assert not Path(f"{path}-wal").exists()
    return path


class LedgerMachine(RuleBasedStateMachine):
    url = ""

    def __init__(self) -> None:
        super().__init__()
        self.engine = make_engine(self.url)
        self.clock = NOW
        self.members = [1, 2]
        self.ids = itertools.count()
        self.open_lines: dict[str, dict[str, int]] = {}  # confirmed orders: what is left to return of each line
        self.reservations: list[str] = []
        self.expected_total = 1000  # the sum of all balances, by what every use case reported
        self.last_version_at = NOW - timedelta(days=60)

    def teardown(self) -> None:
        self.engine.dispose()

    def _run(self, use_case: Any) -> Any:
        with UnitOfWork(self.engine) as uow:
            result = use_case(uow)
            uow.commit()
            return result

    def _entry_count(self) -> int:
        with UnitOfWork(self.engine, read_only=True) as uow:
            return int(uow.conn.execute(select(func.count()).select_from(t.ledger_entries)).scalar_one())

    def _body(self, who: int | None, lines: list[tuple[str, int]], points: int, late_days: int = 0) -> dict[str, Any]:
        body: dict[str, Any] = {
            "order_id": f"o{next(self.ids)}",
            "occurred_at": (self.clock - timedelta(days=late_days)).isoformat(),
            "lines": [
                {"line_id": str(i), "sku": f"sku{i}", "quantity": q, "price": p} for i, (p, q) in enumerate(lines, 1)
            ],
        }
        if who is not None:
            body["member"] = {"phone": PHONES[who]}
        if points:
            body["points"] = points
        return body

    def _refused(self, error: Exception, before: int) -> None:
        """A refused request wrote nothing."""
        assert isinstance(error, InsufficientPoints | Conflict), error
        assert self._entry_count() == before

    # Time, jobs and program versions

    @rule(
        days=st.integers(min_value=0, max_value=120),
        hours=st.integers(min_value=0, max_value=23),
        run_jobs=st.booleans(),
        version=st.none() | st.tuples(st.integers(0, 20), st.sampled_from(["negative_balance", "record_shortfall"])),
    )
    def advance(self, days: int, hours: int, run_jobs: bool, version: tuple[int, str] | None) -> None:
        self.clock += timedelta(days=days, hours=hours)
        if run_jobs:
            jobs.activate(self.engine, self.clock, self.clock)
            self.expected_total -= jobs.expire(self.engine, self.clock, self.clock)["points"]
        if version is not None:
            percent, shortfall = version
            document = seed_program(
                earning={"pending_days": 14, "rules": [{"id": "base", "percent": percent}]},
                returns={"shortfall": shortfall},
            )
            self._run(lambda uow: programs.publish(uow, document, self.clock, self.clock))

    # Checkout

    def _available(self, who: int) -> int:
        with UnitOfWork(self.engine, read_only=True) as uow:
            return int(ledger.balance(uow, self.members[who], self.clock)["available"])

    @rule(
        who=st.sampled_from([0, 0, 1, None]),
        lines=LINES,
        spend=SPEND,
        late_days=st.integers(min_value=0, max_value=30),
    )
    def confirm(self, who: int | None, lines: list[tuple[str, int]], spend: int | None, late_days: int) -> None:
        points = 0
        if who is not None and spend is not None:  # a share of what is available now, or a bit more than all of it
            points, late_days = self._available(who) * spend // 100, 0
        body = self._body(who, lines, points, late_days)
        before = self._entry_count()
        try:
            result = self._run(lambda uow: checkout.confirm(uow, parse_order(body, self.clock), self.clock))
        except InsufficientPoints as error:
            self._refused(error, before)
            return
        self.expected_total += result["points_to_earn"] - result["points_applied"]
        self.open_lines[body["order_id"]] = {line["line_id"]: line["quantity"] for line in body["lines"]}
        # A resent order never moves points twice.
        assert self._run(lambda uow: checkout.confirm(uow, parse_order(body, self.clock), self.clock)) == result

    @rule(
        who=WHO,
        lines=LINES,
        spend=st.integers(min_value=1, max_value=101),
        minutes=st.integers(min_value=1, max_value=600),
    )
    def reserve(self, who: int, lines: list[tuple[str, int]], spend: int, minutes: int) -> None:
        body = self._body(who, lines, max(1, self._available(who) * spend // 100))
        before = self._entry_count()
        try:
            self._run(
                lambda uow: checkout.reserve(uow, parse_order(body, self.clock), self.clock, timedelta(minutes=minutes))
            )
        except InsufficientPoints as error:
            self._refused(error, before)
            return
        assert self._entry_count() == before  # a hold writes no entry
        self.reservations.append(body["order_id"])
        self.open_lines[body["order_id"]] = {line["line_id"]: line["quantity"] for line in body["lines"]}

    @precondition(lambda self: self.reservations)
    @rule(pick=st.integers(min_value=0), confirm=st.booleans())
    def settle_reservation(self, pick: int, confirm: bool) -> None:
        key = self.reservations.pop(pick % len(self.reservations))
        before = self._entry_count()
        try:
            if confirm:
                result = self._run(lambda uow: checkout.confirm(uow, None, self.clock, order_key=key))
                self.expected_total += result["points_to_earn"] - result["points_applied"]
            else:
                self._run(lambda uow: checkout.release(uow, key, self.clock))
                del self.open_lines[key]
        except (InsufficientPoints, Conflict) as error:  # the hold lapsed and the points went elsewhere
            self._refused(error, before)
            self.open_lines.pop(key, None)

    # Returns: some units of one line, or a cancellation of all that is left

    @precondition(lambda self: self.open_lines)
    @rule(
        pick=st.integers(min_value=0),
        line_pick=st.integers(min_value=0),
        quantity=st.none() | st.integers(min_value=1, max_value=4),
    )
    def give_back(self, pick: int, line_pick: int, quantity: int | None) -> None:
        key = sorted(self.open_lines)[pick % len(self.open_lines)]
        before = self._entry_count()
        if quantity is None:
            result = self._run(lambda uow: returns.cancel(uow, key, self.clock))
            del self.open_lines[key]
            if key in self.reservations:
                self.reservations.remove(key)
        else:
            left = self.open_lines[key]
            line_id = sorted(left)[line_pick % len(left)]
            quantity = min(quantity, left[line_id])
            if quantity == 0:
                return
            try:
                result = self._run(
                    lambda uow: returns.return_lines(uow, key, f"r{next(self.ids)}", [(line_id, quantity)], self.clock)
                )
            except Conflict as error:  # a reservation, not (yet) a confirmed order
                self._refused(error, before)
                return
            left[line_id] -= quantity
        self.expected_total += result.get("points_given_back", 0) - result.get("points_taken_back", 0)

    # Adjustments and action bonuses

    @rule(
        who=WHO,
        points=st.none() | st.just(0) | st.integers(min_value=-1500, max_value=1500),
    )
    def adjust(self, who: int, points: int | None) -> None:
        member_id = self.members[who]
        if points is None:  # an email opened: an uncapped action bonus
            event = f"e{next(self.ids)}"
            result = self._run(
                lambda uow: actions.record_action(uow, member_id, "email_open", event, self.clock, self.clock)
            )
            self.expected_total += result["points"]
            return
        if points == 0:  # take away every point there is, pending ones too
            with UnitOfWork(self.engine, read_only=True) as uow:
                points = -int(ledger.balance(uow, member_id, self.clock)["balance"])
            if points >= 0:
                return
        before = self._entry_count()
        try:
            self._run(lambda uow: ledger.adjust(uow, member_id, points, "machine", "random", self.clock))
        except InsufficientPoints as error:
            self._refused(error, before)
            return
        self.expected_total += points

    # After every step

    @invariant()
    def ledger_holds(self) -> None:
        with UnitOfWork(self.engine, read_only=True) as uow:
            found, _ = audit.run(uow)
            assert [str(v) for v in found] == []
            total = 0
            for member_id in self.members:
                account = uow.conn.execute(select(t.accounts).where(t.accounts.c.account_id == member_id)).one()
                entry_sum = uow.conn.execute(
                    select(func.coalesce(func.sum(t.ledger_entries.c.points), 0)).where(
                        t.ledger_entries.c.account_id == member_id
                    )
                ).scalar_one()
                lot_sum = uow.conn.execute(
                    select(func.coalesce(func.sum(t.lots.c.remaining), 0)).where(t.lots.c.account_id == member_id)
                ).scalar_one()
                assert account.balance == entry_sum
                assert account.debt >= 0
                assert account.balance == lot_sum - account.debt
                assert account.debt == 0 or lot_sum == 0  # points are never spendable while a debt is owed
                figures = ledger.balance(uow, member_id, self.clock)
                assert 0 <= figures["available"] <= max(account.balance, 0)
                assert figures["held"] >= 0
                total += account.balance
            assert total == self.expected_total


def test_the_ledger_holds_through_random_histories(template: Path, tmp_path: Path) -> None:
    runs = itertools.count()

    class Machine(LedgerMachine):
        def __init__(self) -> None:
            path = tmp_path / f"run-{next(runs)}.db"
            shutil.copy(template, path)
            type(self).url = f"sqlite:///{path}"
            super().__init__()

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# --- The account aggregate alone, then through the repository ----------------------------------------------------

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
        self.moved -= self.account.expire(self.clock, lambda at: 1)
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
                assert {no: n for no, n in stored.returned.items() if n} == tracked.returned
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
    runs = itertools.count()

    class Machine(StoredAccountMachine):
        def __init__(self) -> None:
            path = tmp_path / f"account-{next(runs)}.db"
            shutil.copy(template, path)
            type(self).url = f"sqlite:///{path}"
            super().__init__()

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=30, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
