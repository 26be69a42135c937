"""`loyalty audit` ties the ledger to the orders, lines, returns and events that explain it: a history built through
the use cases — returns, cancels, reservations, campaigns, referrals, win-back, tiers, debt, adjustments, expiry —
audits clean, and each way of tampering with it by hand, keeping the ledger's own arithmetic right, is a named
violation that makes the command exit 1. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from loyalty.campaigns import service as campaigns
from loyalty.checkout import service as checkout
from loyalty.cli.main import app
from loyalty.engagement import actions, winback
from loyalty.ledger import jobs
from loyalty.members import service as members
from loyalty.referrals import service as referrals
from loyalty.tiers import service as tiers
from tests.usecases import (
    NOW,
    PROGRAM_START,
    adjust,
    cancel,
    confirm,
    order,
    publish,
    register,
    reserve,
    return_lines,
    run,
    seed_program,
)

PROGRAM = seed_program(
    tiers={"levels": [{"id": "silver", "from": "0"}, {"id": "gold", "from": "15000", "multiplier": "1.5"}]},
    referrals={"new_member_points": 300, "referrer_points": 500, "return_window_days": 14},
    win_back={"inactive_days": 30, "points": 400, "expires_after_days": 14},
)
COFFEE_X2 = {
    "campaigns": [
        {
            "id": "coffee-x2",
            "name": "x2 on coffee",
            "starts_at": "2026-01-01",
            "earning": {"categories": ["coffee"], "multiplier": 2},
            "budget_points": 100000,
        }
    ]
}


def audit(database_url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "--database", database_url])
    return result.exit_code, " ".join(result.output.split())  # the console wraps long lines


def coffee_order(order_id: str, member_id: int, **extra: Any) -> dict[str, Any]:
    body = order(order_id, ("coat", "10000.00", 1), member={"member_id": member_id}, **extra)
    body["lines"].append({"line_id": "2", "sku": "latte", "category": "coffee", "quantity": 2, "price": "250.00"})
    return body


def history(engine: Engine) -> dict[str, int]:
    """Every use case that writes the ledger, through the use cases; returns the members' ids."""
    publish(engine, PROGRAM)
    run(engine, lambda uow: campaigns.apply(uow, COFFEE_X2, PROGRAM_START))
    anna = register(engine, "+79990000001")
    code = run(engine, lambda uow: members.profile(uow, anna))["referral_code"]
    boris = run(
        engine,
        lambda uow: members.register(
            uow, members.parse_member({"phone": "+79990000002", "referral_code": code}), NOW - timedelta(days=29)
        ),
    )
    carl = register(engine, "+79990000003", at=PROGRAM_START + timedelta(days=1))
    ann, bor = {"member_id": anna}, {"member_id": boris}
    confirm(engine, coffee_order("A1", anna, occurred_at=NOW - timedelta(days=20)))  # campaign points
    confirm(engine, order("A2", ("lamp", "3000.00", 3), member=ann, points=300))
    confirm(engine, order("A7", ("sofa", "6000.00", 1), member=ann))  # Gold by now: the tier's bonus too
    confirm(engine, order("A8", ("rug", "1000.00", 2), member=ann, points=200))
    confirm(engine, order("B1", ("tea", "1000.00", 2), member=bor, occurred_at=NOW - timedelta(days=20)))
    confirm(engine, order("B3", ("cup", "1500.00", 1), member=bor, points=400))  # spends B1's points
    confirm(engine, order("G1", ("tv", "5000.00", 1)))  # a guest's order
    return_lines(engine, "A2", "R-A2", [("1", 1)])
    return_lines(engine, "A1", "R-A1", [("2", 1)])
    cancel(engine, "A1")
    return_lines(engine, "B1", "R-B1", [("1", 1)])  # its points were spent: debt
    run(engine, lambda uow: actions.record_action(uow, anna, "review", "rv-1", NOW, NOW))
    adjust(engine, anna, 77)
    adjust(engine, anna, -20)
    reserve(engine, order("H1", ("hat", "2000.00", 1), member=ann, points=50))
    reserve(engine, order("H2", ("hat", "2000.00", 1), member=ann, points=50))
    run(engine, lambda uow: checkout.release(uow, "H2", NOW))
    reserve(engine, order("H3", ("hat", "2000.00", 1), member=ann, points=50))
    run(engine, lambda uow: checkout.confirm(uow, None, NOW, "H3"))
    reserve(engine, order("H4", ("hat", "2000.00", 1), member=ann, points=50))
    cancel(engine, "H4")
    assert referrals.run(engine, NOW, NOW) == 1
    assert winback.run(engine, NOW, NOW)["granted"] == 1  # Carl never bought
    tiers.reevaluate(engine, NOW, NOW)
    later = NOW + timedelta(days=15)
    assert jobs.expire(engine, later, later)["points"] > 0  # Carl's win-back points burn
    return {"anna": anna, "boris": boris, "carl": carl}


@pytest.fixture
def built(database_url: str, engine: Engine) -> tuple[str, Engine, dict[str, int]]:
    ids = history(engine)
    code, output = audit(database_url)
    assert code == 0 and "Ledger OK" in output, output
    return database_url, engine, ids


def test_a_full_history_audits_clean_and_stays_clean_when_everything_expires(
    built: tuple[str, Engine, dict[str, int]],
) -> None:
    database_url, engine, _ = built
    much_later = NOW + timedelta(days=800)
    jobs.expire(engine, much_later, much_later)
    code, output = audit(database_url)
    assert code == 0, output
    assert "Ledger OK" in output


def remove_entry(conn: Connection, account_id: int, entry_no: int) -> None:
    """Delete an entry as if it had never been written: its lot, its draws, and its effect on the balance and the
    debt, so that the ledger's own sums still agree."""
    key = {"a": account_id, "e": entry_no}
    points, debt_delta = conn.execute(
        text("SELECT points, debt_delta FROM ledger_entries WHERE account_id = :a AND entry_no = :e"), key
    ).one()
    conn.execute(
        text(
            "UPDATE lots SET remaining = remaining + (SELECT sum(d.points) FROM lot_draws d"
            " WHERE d.account_id = lots.account_id AND d.lot_no = lots.lot_no AND d.entry_no = :e)"
            " WHERE account_id = :a AND lot_no IN (SELECT lot_no FROM lot_draws WHERE account_id = :a AND entry_no = :e)"
        ),
        key,
    )
    conn.execute(text("DELETE FROM lot_draws WHERE account_id = :a AND entry_no = :e"), key)
    conn.execute(text("DELETE FROM lots WHERE account_id = :a AND entry_no = :e"), key)
    conn.execute(text("DELETE FROM ledger_entries WHERE account_id = :a AND entry_no = :e"), key)
    conn.execute(
        text("UPDATE accounts SET balance = balance - :p, debt = debt - :d WHERE account_id = :a"),
        {"a": account_id, "p": points, "d": debt_delta},
    )


def entries_of(conn: Connection, where: str) -> list[tuple[int, int]]:
    return [
        (r.account_id, r.entry_no)
        for r in conn.execute(text(f"SELECT account_id, entry_no FROM ledger_entries WHERE {where}"))
    ]


def earned_changed(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("UPDATE orders SET points_earned = points_earned + 10 WHERE order_key = 'A7'"))
    conn.execute(text("UPDATE order_lines SET points_earned = points_earned + 10 WHERE order_key = 'A7'"))


def earn_removed(conn: Connection, _ids: dict[str, int]) -> None:
    for account_id, entry_no in entries_of(conn, "order_key = 'A7' AND kind = 'earn'"):
        remove_entry(conn, account_id, entry_no)


def spend_removed(conn: Connection, _ids: dict[str, int]) -> None:
    for account_id, entry_no in entries_of(conn, "order_key = 'A8' AND kind = 'spend'"):
        remove_entry(conn, account_id, entry_no)


def return_entries_removed(conn: Connection, _ids: dict[str, int]) -> None:
    found = entries_of(conn, "return_key = 'R-A1'")
    assert found
    for account_id, entry_no in found:
        remove_entry(conn, account_id, entry_no)


def line_applied_changed(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("UPDATE order_lines SET points_applied = points_applied + 1 WHERE order_key = 'A8'"))


def entry_order_missing(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("UPDATE ledger_entries SET order_key = 'NOPE' WHERE order_key = 'A7' AND kind = 'earn'"))
    conn.execute(text("UPDATE orders SET points_earned = 0 WHERE order_key = 'A7'"))
    conn.execute(text("UPDATE order_lines SET points_earned = 0 WHERE order_key = 'A7'"))


def action_points_changed(conn: Connection, _ids: dict[str, int]) -> None:
    ((account_id, entry_no),) = entries_of(conn, "kind = 'action' AND action_key = 'rv-1'")
    key = {"a": account_id, "e": entry_no}
    conn.execute(text("UPDATE ledger_entries SET points = points + 10 WHERE account_id = :a AND entry_no = :e"), key)
    conn.execute(
        text(
            "UPDATE lots SET points = points + 10, remaining = remaining + 10 WHERE account_id = :a AND entry_no = :e"
        ),
        key,
    )
    conn.execute(text("UPDATE accounts SET balance = balance + 10 WHERE account_id = :a"), key)


def lines_deleted(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("DELETE FROM order_lines WHERE order_key = 'G1'"))


def version_dropped(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("UPDATE ledger_entries SET program_version = NULL WHERE kind = 'adjust'"))


def returned_quantity_changed(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("UPDATE order_lines SET returned_quantity = 2 WHERE order_key = 'A2' AND line_id = '1'"))


def referral_bonus_changed(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("UPDATE referrals SET referrer_points = 600"))


def held_out_but_earned(conn: Connection, _ids: dict[str, int]) -> None:
    conn.execute(text("UPDATE orders SET program_withheld_by = 'half-out' WHERE order_key = 'A7'"))


TAMPERING: dict[str, tuple[Callable[[Connection, dict[str, int]], None], str]] = {
    "an order's points_earned changed": (earned_changed, "order-entries: order A7"),
    "an earn entry and its lot deleted, the balance adjusted": (earn_removed, "order-entries: order A7"),
    "a spend entry deleted, its lots restored": (spend_removed, "order-entries: order A8"),
    "a return's entries removed": (return_entries_removed, "return-entries: return R-A1 of order A1"),
    "an order line's points_applied changed": (line_applied_changed, "order-lines: order A8"),
    "an entry pointing at a missing order": (entry_order_missing, "names order NOPE, which does not exist"),
    "an action entry's points changed": (action_points_changed, "event rv-1: its events and referrals gave 100"),
    "a confirmed order with no lines": (lines_deleted, "order-lines: order G1: is confirmed but has no lines"),
    "an entry without its program version": (
        version_dropped,
        "entry-version: account 1 entry 19: adjust names version None",
    ),
    "a line's returned quantity changed": (returned_quantity_changed, "returned-lines: order A2"),
    "a referral's bonus changed": (referral_bonus_changed, "event referral:2: its events and referrals gave 600"),
    "an order that earned marked as held out of the program": (
        held_out_but_earned,
        "held-out-orders: order A7: held out by experiment half-out, yet paid 0 and earned",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_each_tampering_is_a_named_violation(built: tuple[str, Engine, dict[str, int]], case: str) -> None:
    database_url, engine, ids = built
    tamper, named = TAMPERING[case]
    with engine.begin() as conn:
        tamper(conn, ids)
    code, output = audit(database_url)
    assert code == 1, output
    assert named in output, output
    # The ledger's own arithmetic still holds: only the links give it away.
    assert not any(f"VIOLATION {check}:" in output for check in ("balance", "lots", "debt", "lot", "entry")), output
