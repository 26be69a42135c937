"""Random histories of use cases (on SQLite): after every step the audit finds nothing, each balance is the sum of
its entries and the lots minus the debt, nothing more than the balance is spendable, and the balances add up to
what the use cases reported moving. (tests/ledger/test_account_properties.py: the same for the account aggregate
alone, and through the repository.)"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from loyalty.audit import service as audit
from loyalty.checkout import returns
from loyalty.checkout import service as checkout
from loyalty.checkout.requests import parse_order
from loyalty.core.errors import Conflict, InsufficientPoints
from loyalty.engagement import actions
from loyalty.ledger import jobs
from loyalty.ledger import service as ledger
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork, make_engine
from tests.ledger.conftest import PHONES, run_on_copies
from tests.usecases import NOW, seed_program

MONEY = st.integers(min_value=1, max_value=800_000).map(lambda kopecks: f"{kopecks // 100}.{kopecks % 100:02d}")
# The points an order pays with: none, or a percentage of what is available (just over 100: more than there is).
SPEND = st.one_of(st.none(), st.integers(min_value=1, max_value=101), st.just(100))
# Mostly the first member, so that what one use case does to a balance meets what the next one does.
WHO = st.sampled_from([0, 0, 0, 1])
LINES = st.lists(st.tuples(MONEY, st.integers(min_value=1, max_value=4)), min_size=1, max_size=3)


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
    run_on_copies(
        LedgerMachine,
        template,
        tmp_path,
        settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
