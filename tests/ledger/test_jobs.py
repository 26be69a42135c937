"""The expiry and activation jobs, and the audit that checks the ledger's invariants, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from loyalty.audit import service as audit
from loyalty.core.errors import InsufficientPoints
from loyalty.engagement import actions
from loyalty.ledger import jobs
from loyalty.storage.database import UnitOfWork
from tests.usecases import (
    MEMBER,
    NOW,
    REGISTERED_AT,
    adjust,
    balance,
    cancel,
    confirm,
    entries,
    lots,
    order,
    register,
    reserve,
    return_lines,
    run,
    violations,
)

REGISTRATION_EXPIRES = REGISTERED_AT + timedelta(days=365)  # NOW + 335 days


# Expiry


def test_expiry_writes_off_lots_past_their_date_once(seeded: Engine, rich_member: int) -> None:
    just_before = REGISTRATION_EXPIRES - timedelta(seconds=1)
    assert jobs.expire(seeded, just_before, just_before) == {"accounts": 0, "points": 0}
    assert balance(seeded, rich_member, just_before)["available"] == 1000
    # At the instant they expire the points are no longer spendable, even before the job writes them off.
    figures = balance(seeded, rich_member, REGISTRATION_EXPIRES)
    assert (figures["balance"], figures["available"], figures["expired_not_yet_written_off"]) == (1000, 500, 500)
    with pytest.raises(InsufficientPoints):
        confirm(seeded, order("late", ("tv", "2000", 1), member=MEMBER, points=501), REGISTRATION_EXPIRES)

    assert jobs.expire(seeded, REGISTRATION_EXPIRES, REGISTRATION_EXPIRES) == {"accounts": 1, "points": 500}
    burned = entries(seeded, rich_member)[0]
    assert (burned["kind"], burned["points"], burned["occurred_at"]) == (
        "expire",
        -500,
        REGISTRATION_EXPIRES.isoformat(),
    )
    assert balance(seeded, rich_member, REGISTRATION_EXPIRES)["balance"] == 500
    assert jobs.expire(seeded, REGISTRATION_EXPIRES, REGISTRATION_EXPIRES) == {"accounts": 0, "points": 0}
    much_later = NOW + timedelta(days=400)
    assert jobs.expire(seeded, much_later, much_later) == {"accounts": 1, "points": 500}
    assert balance(seeded, rich_member, much_later)["balance"] == 0
    assert violations(seeded) == []


def test_expiry_burns_only_what_is_left_of_a_lot(seeded: Engine, rich_member: int) -> None:
    confirm(seeded, order("spend", ("tv", "2000", 1), member=MEMBER, points=300))  # from the registration lot
    assert jobs.expire(seeded, REGISTRATION_EXPIRES, REGISTRATION_EXPIRES)["points"] == 200
    assert balance(seeded, rich_member, REGISTRATION_EXPIRES)["balance"] == 500
    assert violations(seeded) == []


def test_points_given_back_into_an_expired_lot_burn_at_the_next_run(seeded: Engine, rich_member: int) -> None:
    confirm(seeded, order("spend", ("tv", "7000", 1), member=MEMBER, points=700))
    assert jobs.expire(seeded, REGISTRATION_EXPIRES, REGISTRATION_EXPIRES)["points"] == 0
    later = REGISTRATION_EXPIRES + timedelta(days=1)
    assert return_lines(seeded, "spend", "r1", [("1", 1)], later)["points_given_back"] == 700
    figures = balance(seeded, rich_member, later)
    assert (figures["balance"], figures["available"], figures["expired_not_yet_written_off"]) == (1000, 500, 500)
    assert jobs.expire(seeded, later, later) == {"accounts": 1, "points": 500}
    assert balance(seeded, rich_member, later)["balance"] == 500
    assert violations(seeded) == []


def test_expiry_works_through_many_accounts_in_batches(seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "BATCH", 2)
    ids = [register(seeded, f"+7912345678{i}") for i in range(5)]
    done: list[int] = []
    result = jobs.expire(seeded, REGISTRATION_EXPIRES, REGISTRATION_EXPIRES, progress=done.append)
    assert result == {"accounts": 5, "points": 2500}
    assert done == [2, 2, 1]
    assert all(balance(seeded, i, REGISTRATION_EXPIRES)["balance"] == 0 for i in ids)
    assert violations(seeded) == []


# Activation


def test_activation_marks_lots_that_became_spendable(seeded: Engine, member: int) -> None:
    confirm(seeded, order("o1", ("tv", "10000", 1), member=MEMBER))  # 500 pending until NOW + 14 days
    assert jobs.activate(seeded, NOW, NOW) == {"lots": 1, "points": 500}  # the registration lot
    assert jobs.activate(seeded, NOW, NOW) == {"lots": 0, "points": 0}
    unlock = NOW + timedelta(days=14)
    assert jobs.activate(seeded, unlock - timedelta(seconds=1), NOW) == {"lots": 0, "points": 0}
    assert jobs.activate(seeded, unlock, NOW) == {"lots": 1, "points": 500}
    assert [lot.activated_at for lot in lots(seeded, member).values()] == [NOW, unlock]
    assert balance(seeded, member, unlock)["available"] == 1000
    assert violations(seeded) == []


# Audit


def _everything(engine: Engine, member_id: int) -> None:
    """Every use case that moves points, once."""
    confirm(engine, order("earn", ("tv", "10000", 1), ("cable", "1000", 3), member=MEMBER))
    confirm(engine, order("spend", ("cup", "500", 4), member=MEMBER, points=900))
    confirm(engine, order("guest", ("tv", "5000", 1)))
    reserve(engine, order("held", ("tv", "3000", 1), member=MEMBER, points=50))
    run(engine, lambda uow: actions.record_action(uow, member_id, "review", "rv-1", NOW, NOW))
    return_lines(engine, "spend", "r1", [("1", 1)])
    return_lines(engine, "earn", "r2", [("2", 2)])
    cancel(engine, "spend")
    adjust(engine, member_id, -200)
    adjust(engine, member_id, 77)
    much_later = NOW + timedelta(days=400)
    jobs.activate(engine, much_later, much_later)
    jobs.expire(engine, much_later, much_later)


def test_the_audit_finds_nothing_wrong_after_every_use_case(seeded: Engine, rich_member: int) -> None:
    _everything(seeded, rich_member)
    with UnitOfWork(seeded, read_only=True) as uow:
        found, counts = audit.run(uow)
    assert found == []
    assert counts["accounts"] == 1
    assert counts["orders"] == 4
    assert counts["entries"] == len(entries(seeded, rich_member))


def test_the_audit_names_the_account_whose_balance_was_corrupted(seeded: Engine, rich_member: int) -> None:
    other = register(seeded, "+79123456780")
    _everything(seeded, rich_member)
    with UnitOfWork(seeded) as uow:
        uow.conn.execute(text("UPDATE accounts SET balance = balance + 1 WHERE account_id = :a"), {"a": other})
        uow.commit()
    found = violations(seeded)
    assert found
    assert all(f"account {other}" in v for v in found), found
    assert any(v.startswith(f"balance: account {other}:") for v in found), found
    assert not any(f"account {rich_member}" in v for v in found)


CORRUPTIONS: list[tuple[str, str, str]] = [
    ("UPDATE lots SET remaining = remaining + 1 WHERE account_id = :a AND lot_no = 3", "lot", "account {a} lot 3"),
    ("UPDATE accounts SET debt = debt + 1 WHERE account_id = :a", "lots", "account {a}"),
    ("UPDATE ledger_entries SET points = points + 5 WHERE account_id = :a AND entry_no = 2", "entry", "account {a}"),
    ("DELETE FROM lot_draws WHERE account_id = :a", "lot", "account {a}"),
    ("UPDATE orders SET points_applied = 1 WHERE order_key = 'spend'", "order", "order spend"),
    ("UPDATE order_lines SET returned_quantity = 9 WHERE order_key = 'earn'", "order", "order earn"),
]


def test_the_audit_finds_each_kind_of_corruption(seeded: Engine, rich_member: int) -> None:
    _everything(seeded, rich_member)
    for sql, check, subject in CORRUPTIONS:
        with UnitOfWork(seeded) as uow:
            uow.conn.execute(text(sql), {"a": rich_member})
            found, _ = audit.run(uow)
            # Leaving without commit undoes the corruption before the next one.
        expected = subject.format(a=rich_member)
        assert any(v.check == check and expected in v.subject for v in found), (sql, [str(v) for v in found])
    assert violations(seeded) == []
