"""The account aggregate without a database: what each change does to the balance, the debt and the lots, and the
entries, lots, draws and remainders it hands over to be written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty.core.errors import InsufficientPoints, InvalidInput
from loyalty.ledger.account import Account, LedgerEntry, LotDraw, LotsNotLoaded, NewLot, Spend
from loyalty.ledger.model import Draw, EntryKind, Lot, Provenance

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = Provenance(program_version=3, rule_id="base", order_key="o1")
HALF = Decimal("0.5")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def account(*lots: Lot, debt: int = 0, loaded: bool = True) -> Account:
    """An account whose stored state is `lots` (and `debt`), as the repository would build it."""
    balance = sum(lot.remaining for lot in lots) - debt
    acc = Account(7, balance, debt, seq=max((lot.lot_no for lot in lots), default=0), now=day(0))
    if loaded:
        acc.load_lots(lots)
    return acc


def lot(
    lot_no: int, points: int, *, available: float = 0, expires: float | None = None, share: Decimal | None = None
) -> Lot:
    return Lot(lot_no, points, points, day(available), None if expires is None else day(expires), share)


def remainders(acc: Account) -> dict[int, int]:
    return {no: x.remaining for no, x in sorted(acc.lots().items())}


# --- credits -----------------------------------------------------------------------------------------------------


def test_a_credit_is_a_new_lot_numbered_just_before_its_entry_and_keeps_its_provenance() -> None:
    acc = account(lot(1, 100))
    entry_no = acc.credit(EntryKind.EARN, 40, day(1), day(15), day(366), ORDER)
    assert (entry_no, acc.balance, acc.seq) == (3, 140, 3)
    changes = acc.take_changes()
    assert changes is not None
    assert changes.entries == [LedgerEntry(3, EntryKind.EARN, 40, day(1), day(0), ORDER, lot_no=2)]
    assert changes.new_lots == [NewLot(2, 40, 40, day(15), day(366), None, 3, 3, "base")]
    assert (changes.draws, changes.remainders, changes.balance, changes.seq) == ([], [], 140, 3)


def test_a_credit_repays_a_debt_first_and_its_lot_holds_only_the_rest() -> None:
    acc = account(debt=30)
    acc.credit(EntryKind.ADJUST, 50, day(1), day(1), None, Provenance(operator="ann", reason="goodwill"))
    assert (acc.balance, acc.debt, remainders(acc)) == (20, 0, {1: 20})
    changes = acc.take_changes()
    assert changes is not None
    assert (changes.entries[0].points, changes.entries[0].debt_delta) == (50, -30)
    assert (changes.new_lots[0].points, changes.new_lots[0].remaining) == (20, 20)


def test_an_order_that_only_earns_never_needs_the_stored_lots() -> None:
    acc = account(lot(1, 100), loaded=False)
    acc.credit(EntryKind.EARN, 40, day(1), day(1), None, ORDER)
    # The stored lots' sum comes from the database; the lot credited in the transaction is added to it.
    assert acc.spendable(day(1), stored=100) == 140
    assert acc.spendable_split(day(1), stored={None: 60, HALF: 40}) == (140, {HALF: 40})
    with pytest.raises(LotsNotLoaded):
        acc.spend(10, day(1), ORDER)
    acc.load_lots([lot(1, 100)])  # loaded later, the credited lot joins the stored ones
    assert remainders(acc) == {1: 100, 2: 40}


# --- spending ----------------------------------------------------------------------------------------------------


def test_a_spend_draws_in_the_spend_order_and_leaves_held_points_alone() -> None:
    acc = account(lot(1, 100, expires=300), lot(2, 100, available=10, expires=200), lot(3, 100))
    assert acc.spendable(day(20), held=50) == 250
    with pytest.raises(InsufficientPoints):
        acc.spend(251, day(20), ORDER, held=50)
    assert acc.take_changes() is None  # refused: nothing changed
    assert remainders(acc) == {1: 100, 2: 100, 3: 100}
    entry_no = acc.spend(150, day(20), ORDER, held=50)
    assert remainders(acc) == {1: 50, 2: 0, 3: 100}  # soonest-expiring first, never-expiring last
    changes = acc.take_changes()
    assert changes is not None
    assert changes.draws == [LotDraw(entry_no, 2, 100), LotDraw(entry_no, 1, 50)]
    assert changes.remainders == [(1, 50), (2, 0)]
    assert changes.entries[0].points == -150


def test_held_points_are_taken_from_the_unrestricted_ones_first_then_the_largest_share() -> None:
    acc = account(lot(1, 100), lot(2, 300, share=HALF), lot(3, 200, share=Decimal("0.25")))
    assert acc.spendable_split(day(1)) == (600, {HALF: 300, Decimal("0.25"): 200})
    assert acc.spendable_split(day(1), held=150) == (450, {HALF: 250, Decimal("0.25"): 200})
    assert acc.spendable_split(day(1), held=500) == (100, {Decimal("0.25"): 100})


def test_a_spend_takes_no_more_from_restricted_lots_than_their_cap() -> None:
    acc = account(lot(1, 100, share=HALF, expires=10), lot(2, 100, expires=20))
    acc.spend(130, day(1), ORDER, caps={HALF: 30})
    assert remainders(acc) == {1: 70, 2: 0}
    with pytest.raises(InsufficientPoints):
        acc.spend(71, day(1), ORDER, caps={HALF: 70})  # the unrestricted lot is empty and 70 are left of the share


# --- returns -----------------------------------------------------------------------------------------------------


def test_a_take_back_starts_with_the_orders_own_lot_then_follows_the_spend_order() -> None:
    acc = account(lot(1, 100, expires=50), lot(2, 100, available=14, expires=400), lot(3, 100, expires=300))
    taken, shortfall = acc.take_back(150, day(1), [2], allow_debt=False, provenance=ORDER)
    assert (taken, shortfall) == (150, 0)
    assert remainders(acc) == {1: 50, 2: 0, 3: 100}  # its own lot, pending or not, then the soonest-expiring


def test_what_a_take_back_cannot_find_becomes_debt_or_a_shortfall_by_the_program() -> None:
    debt = account(lot(1, 100))
    assert debt.take_back(130, day(1), [], allow_debt=True, provenance=ORDER) == (130, 0)
    assert (debt.balance, debt.debt, remainders(debt)) == (-30, 30, {1: 0})
    changes = debt.take_changes()
    assert changes is not None
    assert (changes.entries[0].points, changes.entries[0].debt_delta) == (-130, 30)

    shortfall = account(lot(1, 100))
    assert shortfall.take_back(130, day(1), [], allow_debt=False, provenance=ORDER) == (100, 30)
    assert (shortfall.balance, shortfall.debt) == (0, 0)


def test_a_give_back_refills_the_lots_in_the_reverse_of_the_spend_order() -> None:
    # Both expire together; lot 2 became available first, so the spend order drew it first and lot 1 last.
    stored = [lot(1, 100, available=10, expires=100), lot(2, 100, expires=100)]
    acc = account(*stored)
    entry_no = acc.spend(150, day(20), ORDER)
    assert remainders(acc) == {1: 50, 2: 0}
    acc.take_changes()
    acc.give_back(50, day(21), Spend(entry_no, [Draw(1, 50), Draw(2, 100)], {}), ORDER)
    assert remainders(acc) == {1: 100, 2: 0}  # back into the lot drawn last, whatever the stored rows' order
    changes = acc.take_changes()
    assert changes is not None
    assert changes.draws == [LotDraw(4, 1, -50)]
    assert changes.returned == [LotDraw(entry_no, 1, 50)]


def test_a_give_back_repays_a_debt_first_and_needs_the_spends_lots() -> None:
    acc = account(lot(1, 100), debt=0)
    entry_no = acc.spend(100, day(1), ORDER)
    acc.take_back(20, day(2), [], allow_debt=True, provenance=ORDER)
    assert (acc.balance, acc.debt) == (-20, 20)
    acc.give_back(60, day(3), Spend(entry_no, [Draw(1, 100)], {}), ORDER)
    assert (acc.balance, acc.debt, remainders(acc)) == (40, 0, {1: 40})

    fresh = account(lot(2, 10))  # lot 1 was spent in full: it is not among the live lots
    with pytest.raises(LotsNotLoaded):
        fresh.give_back(10, day(3), Spend(entry_no, [Draw(1, 100)], {}), ORDER)
    fresh.add_lots([Lot(1, 100, 0, day(0), None)])
    fresh.give_back(10, day(3), Spend(entry_no, [Draw(1, 100)], {1: 60}), ORDER)
    assert remainders(fresh) == {1: 10, 2: 10}


# --- expiry and adjustments --------------------------------------------------------------------------------------


def test_expiry_burns_what_is_left_of_each_expired_lot_at_its_own_instant() -> None:
    acc = account(lot(1, 100, expires=10), lot(2, 50, expires=20), lot(3, 70, expires=40))
    acc.lots()[2].remaining = 0  # spent in full before it expired: nothing to burn
    acc.balance -= 50
    assert acc.expire(day(30), lambda at: 5 if at < day(15) else 6) == 100
    changes = acc.take_changes()
    assert changes is not None
    assert [(e.kind, e.points, e.occurred_at, e.lot_no, e.provenance) for e in changes.entries] == [
        (EntryKind.EXPIRE, -100, day(10), 1, Provenance(program_version=5, rule_id="expiry"))
    ]
    assert changes.remainders == [(1, 0)]


def test_an_adjustment_names_its_operator_and_a_debit_beyond_the_lots_changes_nothing() -> None:
    acc = account(lot(1, 100, available=14), lot(2, 50))
    with pytest.raises(InvalidInput):
        acc.adjust(0, day(1), "ann", "typo", None, 2)
    with pytest.raises(InsufficientPoints, match="the balance holds 150"):
        acc.adjust(-151, day(1), "ann", "fraud", None, 2)
    assert (acc.take_changes(), remainders(acc)) == (None, {1: 100, 2: 50})
    acc.adjust(-120, day(1), "ann", "fraud", None, 2)  # pending points too
    assert remainders(acc) == {1: 30, 2: 0}
    changes = acc.take_changes()
    assert changes is not None
    assert changes.entries[0].provenance == Provenance(
        program_version=2, rule_id="adjustment", operator="ann", reason="fraud"
    )


def test_a_lot_credited_and_drawn_before_it_is_written_is_inserted_as_it_stands() -> None:
    acc = account()
    acc.credit(EntryKind.ADJUST, 100, day(1), day(1), None, ORDER)
    acc.spend(30, day(1), ORDER)
    changes = acc.take_changes()
    assert changes is not None
    assert [(n.lot_no, n.points, n.remaining) for n in changes.new_lots] == [(1, 100, 70)]
    assert changes.remainders == []  # inserted with its remainder: no update of a row not yet written
    assert acc.take_changes() is None


def test_a_hold_only_ever_extends() -> None:
    acc = account()
    assert not acc.may_be_held()
    assert acc.hold(day(1))
    assert not acc.hold(day(0.5))
    assert (acc.hold_until, acc.may_be_held()) == (day(1), True)
