"""What a holdout withholds outside the checkout's quote, on both databases: a `program` holdout's members get no
action bonus (registration, review, birthday), no referral bonus, no win-back and no tier move while it runs, and
the decision is recorded with the experiment's id; members outside it get them all; once it ends, the held-out
members get them again (their held-out orders never count towards a tier). A `campaigns` holdout keeps the
program's own bonuses. With no experiment, an action reads nothing more than before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from loyalty.checkout import service as checkout
from loyalty.engagement import actions, birthdays, surveys, winback
from loyalty.engagement.actions import CapReached
from loyalty.experiments import service as experiments
from loyalty.experiments.model import in_holdout
from loyalty.ledger.model import EntryKind
from loyalty.members import service as members
from loyalty.referrals import service as referrals
from loyalty.storage import tables as t
from loyalty.stores import service as stores
from loyalty.tiers import service as tiers
from tests.experiments.test_checkout_holdouts import reads_of, statements
from tests.tiers.test_service import TIERS
from tests.usecases import (
    NOW,
    confirm,
    entries,
    order,
    publish,
    read,
    register,
    reserve,
    run,
    seed_program,
    violations,
)

SEED = 7
SHARE = Decimal("0.5")
START, END = NOW - timedelta(days=1), NOW + timedelta(days=30)
AFTER = END + timedelta(days=1)


def create(engine: Engine, experiment_id: str = "holdout", **fields: Any) -> None:
    data = {
        "experiment_id": experiment_id,
        "name": "Half without the program",
        "kind": "holdout",
        "withholds": "program",
        "starts_at": START.isoformat(),
        "ends_at": END.isoformat(),
        "share": str(SHARE),
        "seed": SEED,
        **fields,
    }
    run(engine, lambda uow: experiments.create(uow, data, NOW, lambda: NOW.tzinfo))  # type: ignore[arg-type, return-value]


def split(ids: list[int]) -> tuple[list[int], list[int]]:
    """The held-out members of `ids` and the others; both sides are there (eight draws, checked for seed 7)."""
    held = [m for m in ids if in_holdout(SEED, SHARE, m)]
    kept = [m for m in ids if m not in held]
    assert held and kept
    return held, kept


def join(engine: Engine, count: int, at: datetime = NOW, **profile: Any) -> list[int]:
    return [register(engine, f"+7912300{i:04d}", at, **profile) for i in range(count)]


def event(engine: Engine, member_id: int, action: str, key: str, at: datetime = NOW) -> dict[str, Any]:
    return run(engine, lambda uow: actions.record_action(uow, member_id, action, key, at, NOW))


def action_points(engine: Engine, member_id: int) -> int:
    return sum(e["points"] for e in entries(engine, member_id) if e["kind"] == EntryKind.ACTION.value)


def stored_event(engine: Engine, action: str, key: str) -> Any:
    e = t.action_events.c
    return read(
        engine,
        lambda uow: uow.conn.execute(select(t.action_events).where(e.action == action, e.event_key == key)).one(),
    )


def test_with_no_experiment_an_action_reads_no_experiment_and_no_stamp_on_its_own(seeded: Engine) -> None:
    [member] = join(seeded, 1)
    with statements(seeded) as sent:
        assert event(seeded, member, "review", "r-0")["points"] == 100
    assert reads_of(sent, "experiments") == reads_of(sent, "segment_members") == 0
    # The stamps come with the account's lock, not in a statement of their own.
    assert not [s for s in sent if s.lstrip().startswith("SELECT settings.name")]


def test_a_program_holdout_gets_no_registration_or_action_bonus_until_it_ends(seeded: Engine) -> None:
    create(seeded)
    held, kept = split(join(seeded, 8))
    for member in kept:
        assert action_points(seeded, member) == 500
    for member in held:
        assert action_points(seeded, member) == 0
        recorded = stored_event(seeded, "registration", f"member-{member}")
        assert recorded.points == 0 and recorded.result["withheld_by"] == "experiment:holdout"
        assert "registration bonus withheld" in recorded.result["reason"]

    h, k = held[0], kept[0]
    assert event(seeded, k, "review", "r-k")["points"] == 100
    withheld = event(seeded, h, "review", "r-h1")
    assert (withheld["points"], withheld["entry_no"], withheld["withheld_by"]) == (0, None, "experiment:holdout")
    assert withheld["reason"].startswith("control group of experiment holdout (Half without the program)")
    assert event(seeded, h, "review", "r-h1") == withheld  # a retry answers the same
    event(seeded, h, "review", "r-h2")
    event(seeded, h, "review", "r-h3")
    assert action_points(seeded, h) == 0
    # The withheld reviews used up none of the cap (2 a month): after the experiment, two more reviews earn.
    december = AFTER
    assert event(seeded, h, "review", "r-h4", december)["points"] == 100
    assert event(seeded, h, "review", "r-h5", december)["points"] == 100
    with pytest.raises(CapReached):
        event(seeded, h, "review", "r-h6", december)
    # A member registering after the experiment ended gets the bonus, held out or not.
    late = [register(seeded, f"+7912399{i:04d}", AFTER) for i in range(4)]
    assert all(action_points(seeded, m) == 500 for m in late)
    assert violations(seeded) == []


def test_a_campaigns_holdout_keeps_the_programs_action_bonuses(seeded: Engine) -> None:
    create(seeded, "no-campaigns", withholds="campaigns")
    held, _ = split(join(seeded, 8))
    for member in held:
        assert action_points(seeded, member) == 500
        result = event(seeded, member, "review", f"r-{member}")
        assert result["points"] == 100 and result.get("withheld_by") is None


def test_a_split_by_store_withholds_no_bonus_that_has_no_store(seeded: Engine) -> None:
    for store in ("s-1", "s-2"):
        run(seeded, lambda uow, s=store: stores.put(uow, s, "Moscow", None, NOW))
    create(seeded, "stores", kind="stores", share=None, seed=None, treatment=["s-1"], control=["s-2"])
    for member in join(seeded, 4):
        assert action_points(seeded, member) == 500
        assert event(seeded, member, "review", f"r-{member}")["points"] == 100


BIRTHDAY = seed_program(actions={"registration": {"points": 500}, "birthday": {"points": 300, "cap": {"per": "year"}}})


def test_the_birthday_gift_is_withheld_from_a_program_holdout_and_given_again_next_year(engine: Engine) -> None:
    publish(engine, BIRTHDAY)
    ids = join(engine, 8, at=NOW - timedelta(days=30), birth_date="1990-11-02")
    held, kept = split(ids)
    create(engine)
    day = NOW + timedelta(days=1)  # 2 November
    assert birthdays.grant_gifts(engine, day, day) == {
        "members": len(kept),
        "points": 300 * len(kept),
        "withheld": len(held),
    }
    assert birthdays.grant_gifts(engine, day, day) == {"members": 0, "points": 0, "withheld": 0}  # recorded once
    for member in held:
        recorded = stored_event(engine, "birthday", f"{member}:birthday-2026")
        assert recorded.points == 0 and recorded.result["withheld_by"] == "experiment:holdout"
        assert action_points(engine, member) == 500  # the registration, before the experiment
    next_year = day.replace(year=2027)
    assert birthdays.grant_gifts(engine, next_year, next_year) == {"members": 8, "points": 2400, "withheld": 0}
    gifts = read(
        engine,
        lambda uow: (
            uow.conn.execute(select(t.events.c.account_id).where(t.events.c.kind == "member.birthday")).scalars().all()
        ),
    )
    assert sorted(gifts) == sorted(kept + ids)  # no `birthday` event (and so no message) for the withheld gift
    assert violations(engine) == []


WIN_BACK = seed_program(actions={}, win_back={"inactive_days": 30, "points": 500, "expires_after_days": 14})


def test_win_back_is_withheld_while_the_holdout_runs_and_granted_once_it_ends(engine: Engine) -> None:
    publish(engine, WIN_BACK)
    held, kept = split(join(engine, 8, at=NOW - timedelta(days=40)))
    create(engine)
    assert winback.run(engine, NOW, NOW) == {"granted": len(kept), "points": 500 * len(kept), "withheld": len(held)}
    assert all(action_points(engine, m) == 0 for m in held)
    assert winback.run(engine, AFTER, AFTER) == {"granted": len(held), "points": 500 * len(held), "withheld": 0}
    assert all(action_points(engine, m) == 500 for m in held + kept)
    assert violations(engine) == []


REFERRALS = seed_program(
    actions={}, referrals={"new_member_points": 300, "referrer_points": 700, "return_window_days": 14}
)


def test_referral_bonuses_are_withheld_from_whichever_side_is_held_out(engine: Engine) -> None:
    publish(engine, REFERRALS)
    referrers = join(engine, 8, at=NOW - timedelta(days=40))
    held, kept = split(referrers)
    create(engine)
    code = read(engine, lambda uow: members.profile(uow, kept[0])["referral_code"])
    newcomers = [register(engine, f"+7912500{i:04d}", NOW, referral_code=code) for i in range(8)]
    held_newcomers, kept_newcomers = split(newcomers)
    referred = {r["member_id"]: r for r in read(engine, lambda uow: referrals.referred_by(uow, kept[0]))["referrals"]}
    for member in held_newcomers:
        assert action_points(engine, member) == 0
        assert referred[member]["reason"].startswith("experiment:holdout: control group")
    for member in kept_newcomers:
        assert action_points(engine, member) == 300 and referred[member]["reason"] is None
    # A held-out referrer's reward, due while the experiment runs, is void and says why.
    held_code = read(engine, lambda uow: members.profile(uow, held[0])["referral_code"])
    friend = register(engine, "+79125990001", START, referral_code=held_code)
    confirm(engine, order("f-1", ("tv", "2000", 1), member={"member_id": friend}, occurred_at=START))
    assert run(engine, lambda uow: referrals.reward_referrers(uow, NOW + timedelta(days=14))) == 0
    [mine] = read(engine, lambda uow: referrals.referred_by(uow, held[0]))["referrals"]
    assert (mine["status"], mine["points"]) == ("void", 0)
    assert mine["reason"].startswith("experiment:holdout:")
    assert action_points(engine, held[0]) == 0
    assert violations(engine) == []


ROLLING = {**TIERS, "period": "rolling", "rolling_days": 90, "grace_days": 10}


def reevaluate(engine: Engine, as_of: datetime) -> dict[str, int]:
    return tiers.reevaluate(engine, as_of, as_of)


def tier(engine: Engine, member_id: int, at: datetime = NOW) -> str:
    status: Callable[[Any], dict[str, Any]] = lambda uow: tiers.status(uow, member_id, at)  # noqa: E731
    return str(read(engine, status)["tier"]["id"])


def test_a_program_holdout_moves_no_tier_while_it_runs_and_is_evaluated_normally_after(engine: Engine) -> None:
    publish(engine, seed_program(tiers=ROLLING), effective_from=NOW - timedelta(days=200))
    ids = join(engine, 8, at=NOW - timedelta(days=150))
    held, kept = split(ids)
    # Gold 100 days ago (kept 90 days, 10 of grace: due down from NOW), for the first of each side.
    gold = [held[0], kept[0]]
    for member in gold:
        confirm(
            engine,
            order(
                f"g-{member}", ("sofa", "16000", 1), member={"member_id": member}, occurred_at=NOW - timedelta(days=100)
            ),
        )
        assert tier(engine, member, NOW - timedelta(days=99)) == "gold"
    create(engine)
    # During the experiment, an order crossing Gold's threshold promotes only a member outside the holdout.
    buyers = [held[1], kept[1]]
    for member in buyers:
        result = confirm(engine, order(f"b-{member}", ("sofa", "20000", 1), member={"member_id": member}))
        assert result["points_to_earn"] == (0 if member in held else 1000)
    assert tier(engine, held[1]) == "silver" and tier(engine, kept[1]) == "gold"
    marked = read(
        engine,
        lambda uow: dict(uow.conn.execute(select(t.orders.c.order_key, t.orders.c.program_withheld_by)).all()),
    )
    assert marked[f"b-{held[1]}"] == "holdout" and marked[f"b-{kept[1]}"] is None
    assert marked[f"g-{held[0]}"] is None  # before the experiment

    # The job leaves the held-out members as they are: not down (held[0]), not up (held[1]).
    during = reevaluate(engine, NOW + timedelta(days=5))
    assert during == {"members": 8, "upgraded": 0, "downgraded": 1, "held": len(held)}
    assert (tier(engine, held[0]), tier(engine, kept[0])) == ("gold", "silver")
    assert tier(engine, held[1]) == "silver"

    # Once it ends, they are re-evaluated as anyone is; the held-out order still counts for nothing.
    after = reevaluate(engine, AFTER)
    assert after == {"members": 8, "upgraded": 0, "downgraded": 1, "held": 0}
    assert tier(engine, held[0], AFTER) == "silver" and tier(engine, held[1], AFTER) == "silver"
    result = confirm(
        engine, order("a-1", ("sofa", "15000", 1), member={"member_id": held[1]}, occurred_at=AFTER), AFTER
    )
    assert result["points_to_earn"] == 750
    assert tier(engine, held[1], AFTER) == "gold"
    assert violations(engine) == []


def test_an_order_at_a_control_store_counts_towards_no_tier(engine: Engine) -> None:
    publish(engine, seed_program(tiers=TIERS))
    for store, city in (("msk-1", "Moscow"), ("tver-1", "Tver")):
        run(engine, lambda uow, s=store, c=city: stores.put(uow, s, c, None, NOW))
    create(engine, "cities", kind="cities", share=None, seed=None, treatment=["Moscow"], control=["Tver"])
    [member] = join(engine, 1)
    ref = {"member_id": member}
    confirm(engine, order("t-1", ("sofa", "16000", 1), member=ref, store="tver-1"))
    assert tier(engine, member) == "silver"
    assert reevaluate(engine, NOW)["upgraded"] == 0  # nor does the job count it
    confirm(engine, order("m-1", ("sofa", "14000", 1), member=ref, store="msk-1"))
    assert tier(engine, member) == "silver"  # 14,000 ₽ in the program: not yet Gold
    confirm(engine, order("m-2", ("hat", "1000", 1), member=ref, store="msk-1"))
    assert tier(engine, member) == "gold"


def test_a_reservation_confirmed_in_a_program_holdout_is_marked_and_moves_no_tier(engine: Engine) -> None:
    publish(engine, seed_program(tiers=TIERS))
    create(engine)
    held, kept = split(join(engine, 8))
    for member in (held[0], kept[0]):
        reserve(engine, order(f"r-{member}", ("sofa", "16000", 1), member={"member_id": member}))
        run(engine, lambda uow, m=member: checkout.confirm(uow, None, NOW, order_key=f"r-{m}"))
    o = t.orders.c
    marked = read(engine, lambda uow: dict(uow.conn.execute(select(o.order_key, o.program_withheld_by)).all()))
    assert (marked[f"r-{held[0]}"], marked[f"r-{kept[0]}"]) == ("holdout", None)
    assert (tier(engine, held[0]), tier(engine, kept[0])) == ("silver", "gold")


def test_a_survey_answered_in_a_program_holdout_is_recorded_without_its_bonus(engine: Engine) -> None:
    publish(engine, seed_program(actions={"survey": {"points": 50}}))
    create(engine)
    held, kept = split(join(engine, 8))

    def answer(member: int) -> dict[str, Any]:
        return run(engine, lambda uow: surveys.record_answers(uow, member, "nps", {"recommend": "9"}, NOW, NOW))

    first = answer(held[0])
    assert (first["points"], first["recorded"], first["withheld_by"]) == (0, True, "experiment:holdout")
    assert "survey bonus withheld" in first["reason"]
    again = answer(held[0])  # reported again: answered as the first time, the reason with it
    assert (again["points"], again["recorded"], again["withheld_by"]) == (0, False, "experiment:holdout")
    granted = answer(kept[0])
    assert (granted["points"], "withheld_by" in granted) == (50, False)
    assert action_points(engine, held[0]) == 0 and action_points(engine, kept[0]) == 50
