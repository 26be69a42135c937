"""Win-back on both databases: the job grants inactive members restricted points once per spell of inactivity, the
checkout lets those points pay only their share of an order, returns give them back with their limit, and the
expiry job burns them on time."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select

from loyalty.engagement import winback
from loyalty.ledger import jobs
from loyalty.ledger import repository as accounts
from loyalty.ledger.model import EntryKind
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from tests.usecases import (
    NOW,
    REGISTERED_AT,
    adjust,
    balance,
    calculate,
    confirm,
    entries,
    lots,
    order,
    publish,
    read,
    register,
    reserve,
    return_lines,
    run,
    seed_program,
    violations,
)

WIN_BACK = {"inactive_days": 30, "points": 500, "expires_after_days": 14, "max_share_percent": 50}
# No registration bonus, points pay up to the whole order, no minimum check: only win-back limits the points.
PROGRAM = seed_program(
    actions={},
    redemption={"max_share_percent": 100},
    earning={"rules": [{"id": "base", "name": "Cashback", "percent": 5}]},
    win_back=WIN_BACK,
)
GRANT_BURNS = NOW + timedelta(days=14)


def grant(engine: Engine, as_of: datetime = NOW) -> dict[str, int]:
    return winback.run(engine, as_of, NOW)


def member_with_200_ordinary_points(engine: Engine, phone: str = "+79123450001") -> int:
    publish(engine, PROGRAM)
    member_id = register(engine, phone)  # 30 days before NOW, no order since
    adjust(engine, member_id, 200, now=REGISTERED_AT)
    return member_id


def test_an_inactive_member_gets_the_grant_once_with_its_limit_and_expiry(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    assert grant(engine) == {"granted": 1, "points": 500, "withheld": 0}
    assert grant(engine) == {"granted": 0, "points": 0, "withheld": 0}  # the same instant again
    assert grant(engine, NOW + timedelta(days=10)) == {
        "granted": 0,
        "points": 0,
        "withheld": 0,
    }  # later, no order in between
    shown = balance(engine, member_id)
    assert (shown["balance"], shown["available"]) == (700, 700)
    assert shown["restricted"] == [{"points": 500, "max_share_percent": "50", "expires_at": GRANT_BURNS.isoformat()}]
    granted = entries(engine, member_id)[0]
    assert (granted["kind"], granted["rule"], granted["points"]) == (EntryKind.ACTION.value, "win_back", 500)
    assert granted["event_id"] == f"{member_id}:{REGISTERED_AT.isoformat()}"
    lot = list(lots(engine, member_id).values())[-1]
    assert (lot.max_share, lot.expires_at, lot.rule_id) == (Decimal("0.5"), GRANT_BURNS, "win_back")
    assert violations(engine) == []


def test_members_active_recently_or_registered_lately_get_nothing(engine: Engine) -> None:
    active = member_with_200_ordinary_points(engine)
    confirm(
        engine,
        order("recent", ("tea", "1000.00", 1), member={"member_id": active}, occurred_at=NOW - timedelta(days=29)),
    )
    newcomer = register(engine, "+79123450002", at=NOW - timedelta(days=29))
    idle = register(engine, "+79123450003")
    assert grant(engine) == {"granted": 1, "points": 500, "withheld": 0}
    assert balance(engine, idle)["restricted"] != []
    assert balance(engine, active)["restricted"] == []
    assert balance(engine, newcomer)["restricted"] == []


def test_a_member_inactive_again_after_a_new_order_gets_a_new_grant(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    assert grant(engine)["granted"] == 1
    back = NOW + timedelta(days=1)
    confirm(engine, order("back", ("tea", "1000.00", 1), member={"member_id": member_id}, occurred_at=back), back)
    assert grant(engine, back + timedelta(days=29))["granted"] == 0
    assert grant(engine, back + timedelta(days=30))["granted"] == 1
    assert grant(engine, back + timedelta(days=90))["granted"] == 0
    keys = [e["event_id"] for e in entries(engine, member_id) if e["rule"] == "win_back"]
    assert keys == [f"{member_id}:{back.isoformat()}", f"{member_id}:{REGISTERED_AT.isoformat()}"]


def test_with_repeat_after_days_a_member_still_inactive_gets_another_grant(engine: Engine) -> None:
    publish(engine, seed_program(actions={}, win_back={**WIN_BACK, "repeat_after_days": 60}))
    member_id = register(engine)
    assert grant(engine)["granted"] == 1
    assert grant(engine, NOW + timedelta(days=59))["granted"] == 0
    assert grant(engine, NOW + timedelta(days=60))["granted"] == 1
    assert grant(engine, NOW + timedelta(days=60))["granted"] == 0
    keys = [e["event_id"] for e in entries(engine, member_id) if e["rule"] == "win_back"]
    assert keys == [f"{member_id}:{REGISTERED_AT.isoformat()}:2", f"{member_id}:{REGISTERED_AT.isoformat()}"]


def test_a_program_without_win_back_grants_nothing(engine: Engine) -> None:
    publish(engine, seed_program(actions={}))
    register(engine)
    assert grant(engine) == {"granted": 0, "points": 0, "withheld": 0}


def test_grant_win_back_works_in_the_callers_transaction(engine: Engine) -> None:
    member_with_200_ordinary_points(engine)
    register(engine, "+79123450002")
    assert run(engine, lambda uow: winback.grant_win_back(uow, NOW)) == 2
    assert run(engine, lambda uow: winback.grant_win_back(uow, NOW + timedelta(days=1))) == 0


def test_the_seed_case_win_back_points_pay_half_of_600_roubles_and_ordinary_points_the_rest(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    grant(engine)
    body = order("seed", ("shoes", "600.00", 1), member={"member_id": member_id}, points=700)
    quoted = calculate(engine, body)
    assert (quoted["max_points"], quoted["points_applied"], quoted["balance_available"]) == (500, 500, 700)
    assert {"source": "win_back", "outcome": "limited", "points": 300} in [
        {k: r[k] for k in ("source", "outcome", "points")} for r in quoted["explanation"]
    ]
    paid = confirm(engine, body)
    assert (paid["points_applied"], paid["amount_to_pay"]) == (500, "100.00")
    by_rule = {lot.rule_id: lot.remaining for lot in lots(engine, member_id).values()}
    assert by_rule["win_back"] == 200  # 300 of the 500 win-back points paid; the 200 ordinary ones paid the rest
    assert balance(engine, member_id)["restricted"][0]["points"] == 200
    assert violations(engine) == []


def test_ordinary_points_still_pay_what_the_program_allows(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    adjust(engine, member_id, 800, now=REGISTERED_AT)
    grant(engine)
    paid = confirm(engine, order("all", ("shoes", "600.00", 1), member={"member_id": member_id}, points=600))
    assert (paid["points_applied"], paid["amount_to_pay"]) == (600, "0.00")
    by_rule = {lot.rule_id: lot.remaining for lot in lots(engine, member_id).values() if lot.rule_id}
    assert by_rule["win_back"] == 200  # the soonest-expiring win-back points went first, up to their 300
    assert balance(engine, member_id)["balance"] == 1000 + 500 - 600


def test_a_return_gives_win_back_points_back_with_their_limit(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    grant(engine)
    confirm(engine, order("r", ("shoes", "600.00", 1), member={"member_id": member_id}, points=700))
    returned = return_lines(engine, "r", "r-1", [("1", 1)])
    assert returned["points_given_back"] == 500
    shown = balance(engine, member_id)
    assert shown["restricted"] == [{"points": 500, "max_share_percent": "50", "expires_at": GRANT_BURNS.isoformat()}]
    assert shown["available"] == 700
    again = calculate(engine, order("again", ("shoes", "600.00", 1), member={"member_id": member_id}, points=700))
    assert again["max_points"] == 500  # still at most 300 of them
    assert violations(engine) == []


def test_the_grant_burns_after_its_days(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    grant(engine)
    assert jobs.expire(engine, GRANT_BURNS - timedelta(seconds=1), NOW)["points"] == 0
    assert jobs.expire(engine, GRANT_BURNS, NOW) == {"accounts": 1, "points": 500}
    shown = balance(engine, member_id, GRANT_BURNS)
    assert (shown["balance"], shown["restricted"]) == (200, [])
    assert violations(engine) == []


def test_held_points_are_counted_against_ordinary_points_first(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    grant(engine)
    reserve(engine, order("held", ("tea", "1000.00", 1), member={"member_id": member_id}, points=150))

    def split() -> tuple[int, dict[Decimal, int]]:
        def both(uow: UnitOfWork) -> tuple[int, dict[Decimal, int]]:
            stored = accounts.read(uow, member_id, NOW)
            counted = accounts.spendable_split(uow, stored, NOW, accounts.held(uow, stored))  # grouped in the database
            account = accounts.load_lots(uow, accounts.read(uow, member_id, NOW))
            held = accounts.held(uow, account)
            assert account.spendable_split(NOW, held) == counted  # the same from the loaded lots
            assert account.spendable(NOW, held) == counted[0]
            return counted

        return read(engine, both)

    assert split() == (550, {Decimal("0.5"): 500})
    reserve(engine, order("held-2", ("tea", "1000.00", 1), member={"member_id": member_id}, points=100))
    assert split() == (450, {Decimal("0.5"): 450})
    quoted = calculate(engine, order("next", ("shoes", "600.00", 1), member={"member_id": member_id}, points=450))
    assert quoted["max_points"] == 300


def test_a_reservation_confirmed_later_spends_within_the_caps(engine: Engine) -> None:
    member_id = member_with_200_ordinary_points(engine)
    grant(engine)
    body = order("res", ("shoes", "600.00", 1), member={"member_id": member_id}, points=700)
    assert reserve(engine, body)["points_applied"] == 500
    assert confirm(engine, body)["points_applied"] == 500
    spent = read(
        engine,
        lambda uow: uow.conn.execute(
            select(t.lots.c.rule_id, t.lot_draws.c.points)
            .join(t.lots, (t.lots.c.account_id == t.lot_draws.c.account_id) & (t.lots.c.lot_no == t.lot_draws.c.lot_no))
            .where(t.lot_draws.c.account_id == member_id, t.lot_draws.c.points > 0)
        ).all(),
    )
    assert sorted((rule or "", points) for rule, points in spent) == [("adjustment", 200), ("win_back", 300)]
    assert violations(engine) == []
