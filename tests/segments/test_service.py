"""Segments through the use cases: the seed's "usually buys for about 800 ₽" members, RFM scores, inactivity,
recomputation after new orders and returns, profile conditions, static lists, and bad definitions that change
nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from loyalty.core.errors import Conflict, InvalidInput, NotFound
from loyalty.members import service as members
from loyalty.segments import facts as segment_facts
from loyalty.segments import service as segments
from loyalty.segments.lists import read_references
from loyalty.storage import tables as t
from tests.usecases import NOW, SEED_PROGRAM, cancel, confirm, order, publish, read, return_lines, run, seed_program

SINCE = NOW - timedelta(days=400)


@pytest.fixture
def shop(engine: Engine) -> Engine:
    """The seed program in force for 400 days."""
    publish(engine, SEED_PROGRAM, effective_from=SINCE)
    return engine


def join(engine: Engine, n: int, **profile: Any) -> int:
    """A member registered 365 days before NOW; `n` makes the phone unique."""
    attributes = profile.pop("attributes", {})
    member = members.parse_member({"phone": f"+791234567{n:02d}", **profile})
    member.attributes = attributes
    return run(engine, lambda uow: members.register(uow, member, NOW - timedelta(days=365)))


def buy(engine: Engine, member_id: int, order_id: str, price: str, days_ago: float = 1, quantity: int = 1) -> None:
    when = NOW - timedelta(days=days_ago)
    confirm(engine, order(order_id, ("goods", price, quantity), member={"member_id": member_id}, occurred_at=when))


def create(engine: Engine, segment_id: str, conditions: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    body = {"segment_id": segment_id, "name": segment_id.title(), "conditions": conditions, **data}
    return run(engine, lambda uow: segments.create(uow, body, NOW))


def members_of(engine: Engine, segment_id: str) -> list[int]:
    return read(engine, lambda uow: segments.members_of(uow, segment_id, limit=10_000))


def facts(engine: Engine, as_of: Any = NOW) -> dict[int, Any]:
    return run(engine, lambda uow: {f.member_id: f for f in segment_facts.member_facts(uow, as_of, None)})


def stored(engine: Engine) -> tuple[Any, ...]:
    """Every segment row and membership: equal values mean nothing was written."""

    def take(uow: Any) -> tuple[Any, ...]:
        rows = sorted(tuple(r) for r in uow.conn.execute(select(t.segments)))
        memberships = sorted(tuple(r) for r in uow.conn.execute(select(t.segment_members)))
        return rows, memberships

    return read(engine, take)


def test_members_who_usually_buy_for_about_800_roubles(shop: Engine) -> None:
    anna, boris, vera, gleb, dina = (join(shop, i) for i in range(5))
    for i, price in enumerate(("800.00", "750.00", "850.00")):
        buy(shop, anna, f"a-{i}", price)
    buy(shop, boris, "b-1", "800.00")
    buy(shop, boris, "b-2", "2000.00")  # 1,400 ₽ on average
    buy(shop, vera, "v-1", "500.00", quantity=2)
    return_lines(shop, "v-1", "v-ret", [("1", 1)])  # 500 ₽ kept of 1,000
    buy(shop, vera, "v-2", "1100.00")  # (500 + 1,100) / 2 = 800
    for i in range(3):
        buy(shop, gleb, f"g-{i}", "800.00")
    cancel(shop, "g-2")  # a wholly returned order is no purchase
    confirm(shop, order("guest", ("goods", "800.00", 1)))  # a non-member's order counts for nobody

    segment = create(shop, "check-800", [{"average_check": {"min": "700", "max": "900"}}])

    assert segment["member_count"] == 3
    assert segment["computed_at"] == NOW.isoformat()
    assert members_of(shop, "check-800") == [anna, vera, gleb]
    assert read(shop, lambda uow: segments.segments_of(uow, anna)) == ["check-800"]
    assert read(shop, lambda uow: segments.segments_of(uow, boris)) == []
    figures = facts(shop)
    assert (figures[gleb].purchase_count, figures[gleb].total_spend) == (2, 160_000)
    assert (figures[vera].purchase_count, figures[vera].total_spend) == (2, 160_000)
    assert (figures[dina].purchase_count, figures[dina].last_purchase_at) == (0, None)


def test_rfm_scores_are_quintiles_among_members_with_purchases(shop: Engine) -> None:
    buyers = [join(shop, i) for i in range(5)]
    for i, member_id in enumerate(buyers):  # the later the member, the more recent, frequent and bigger
        for k in range(i + 1):
            buy(shop, member_id, f"o-{i}-{k}", "1000.00", days_ago=50 - 10 * i + k / 10)
    never = join(shop, 10)
    returned = join(shop, 11)
    buy(shop, returned, "r-1", "99999.00")
    cancel(shop, "r-1")

    figures = facts(shop)
    scores = [(figures[m].recency_score, figures[m].frequency_score, figures[m].monetary_score) for m in buyers]
    assert scores == [(1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5)]
    assert figures[never].recency_score is None
    assert figures[returned].monetary_score is None  # no purchase left: not ranked at all

    champions = [{"recency_score": {"min": 4}}, {"frequency_score": {"min": 4}}, {"monetary_score": {"min": 4}}]
    assert create(shop, "champions", champions)["member_count"] == 2
    assert members_of(shop, "champions") == buyers[3:]


def test_equal_values_share_a_score(shop: Engine) -> None:
    once_a, once_b, twice = join(shop, 1), join(shop, 2), join(shop, 3)
    buy(shop, once_a, "a", "500.00")
    buy(shop, once_b, "b", "500.00")
    buy(shop, twice, "c-1", "500.00")
    buy(shop, twice, "c-2", "500.00")
    figures = facts(shop)
    assert figures[once_a].frequency_score == figures[once_b].frequency_score == 1
    assert figures[twice].frequency_score == 4  # rank 3 of 3


def test_inactive_members_as_of_the_job_date(shop: Engine) -> None:
    lapsed, regular, newcomer = join(shop, 1), join(shop, 2), join(shop, 3)
    buy(shop, lapsed, "l-1", "1200.00", days_ago=100)
    buy(shop, regular, "r-1", "1200.00", days_ago=10)
    create(shop, "inactive-90", [{"days_since_last_purchase": {"min": 90}}])
    assert members_of(shop, "inactive-90") == [lapsed]  # a member who never bought is not "inactive"

    later = NOW + timedelta(days=80)
    assert segments.recompute(shop, later) == {"segments": 1, "members": 2, "skipped": 0}
    assert members_of(shop, "inactive-90") == [lapsed, regular]
    segment = read(shop, lambda uow: segments.get(uow, "inactive-90"))
    assert (segment["member_count"], segment["computed_at"]) == (2, later.isoformat())

    segments.recompute(shop, NOW)  # running the job again as of another instant recomputes as of that one
    assert members_of(shop, "inactive-90") == [lapsed]
    assert newcomer not in members_of(shop, "inactive-90")
    before_order = facts(shop, NOW - timedelta(days=20))  # orders after the instant do not count
    assert (before_order[regular].purchase_count, before_order[lapsed].purchase_count) == (0, 1)


def test_recompute_follows_new_orders_and_returns(shop: Engine) -> None:
    member_id = join(shop, 1)
    buy(shop, member_id, "o-1", "5000.00", days_ago=5)
    create(shop, "repeat", [{"purchase_count": {"min": 2}}])
    create(shop, "big", [{"total_spend": {"min": "9000"}}])
    assert members_of(shop, "repeat") == members_of(shop, "big") == []

    buy(shop, member_id, "o-2", "2000.00", days_ago=1, quantity=2)
    assert members_of(shop, "repeat") == []  # as last computed, until the job runs
    assert segments.recompute(shop, NOW)["members"] == 2
    assert members_of(shop, "repeat") == members_of(shop, "big") == [member_id]

    return_lines(shop, "o-2", "ret-1", [("1", 1)])  # 7,000 ₽ left, still two purchases
    segments.recompute(shop, NOW)
    assert (members_of(shop, "repeat"), members_of(shop, "big")) == ([member_id], [])
    return_lines(shop, "o-2", "ret-2", [("1", 1)])  # the second order is wholly returned
    segments.recompute(shop, NOW)
    assert members_of(shop, "repeat") == []
    assert read(shop, lambda uow: segments.segments_of(uow, member_id)) == []


def test_profile_tier_consent_and_attribute_conditions(engine: Engine) -> None:
    tiers = {
        "levels": [{"id": "silver", "name": "Silver", "from": "0"}, {"id": "gold", "name": "Gold", "from": "15000"}]
    }
    publish(engine, seed_program(tiers=tiers), effective_from=SINCE)
    anna = join(
        engine,
        1,
        gender="female",
        birth_date="1990-11-05",
        consents={"email": True, "sms": False},
        attributes={"city": "Kazan", "vip": True},
    )
    maria = join(engine, 2, gender="female", birth_date="2010-11-20", attributes={"city": "Moscow"})
    oleg = join(engine, 3, gender="male", birth_date="1985-03-01", consents={"email": True})
    buy(engine, oleg, "big", "20000.00")  # Gold at once

    assert create(engine, "gold", [{"tier": "gold"}])["member_count"] == 1
    assert members_of(engine, "gold") == [oleg]
    create(engine, "silver", [{"tier": ["silver"]}])  # no stored tier: the program's first level
    assert members_of(engine, "silver") == [anna, maria]
    create(engine, "women-18", [{"gender": "female"}, {"age": {"min": 18}}])
    assert members_of(engine, "women-18") == [anna]
    create(engine, "november", [{"birthday_month": 11}])
    assert members_of(engine, "november") == [anna, maria]
    create(engine, "kazan", [{"city": "kazan"}])
    assert members_of(engine, "kazan") == [anna]
    create(engine, "mailable", [{"consent": {"email": True, "sms": False}}])
    assert members_of(engine, "mailable") == [anna, oleg]
    create(engine, "vip", [{"attributes": {"vip": True}}])
    assert members_of(engine, "vip") == [anna]
    assert read(engine, lambda uow: segments.segments_of(uow, anna)) == [
        "kazan",
        "mailable",
        "november",
        "silver",
        "vip",
        "women-18",
    ]


def test_a_definition_change_recomputes_and_lists_show_counts(shop: Engine) -> None:
    small, big = join(shop, 1), join(shop, 2)
    buy(shop, small, "s", "500.00")
    buy(shop, big, "b", "5000.00")
    create(shop, "spenders", [{"total_spend": {"min": "1000"}}])
    assert members_of(shop, "spenders") == [big]

    later = NOW + timedelta(hours=1)
    changed = run(
        shop,
        lambda uow: segments.update(
            uow, "spenders", {"name": "Anyone who bought", "conditions": [{"purchase_count": {"min": 1}}]}, later
        ),
    )
    assert (changed["name"], changed["member_count"], changed["updated_at"]) == (
        "Anyone who bought",
        2,
        later.isoformat(),
    )
    assert members_of(shop, "spenders") == [small, big]
    create(shop, "nobody", [{"purchase_count": {"min": 5}}])
    listed = read(shop, segments.list_segments)
    assert [(s["segment_id"], s["member_count"]) for s in listed] == [("nobody", 0), ("spenders", 2)]
    assert read(shop, lambda uow: segments.members_of(uow, "spenders", after=small, limit=1)) == [big]


def test_static_segments_from_a_list_of_references(shop: Engine, tmp_path: Path) -> None:
    anna = join(shop, 1, email="anna@example.com")
    boris = join(shop, 2, card="CARD-2")
    vera = join(shop, 3)
    listed = [{"member_id": anna}, {"card": "CARD-2"}, {"phone": "8 912 345-67-03"}, {"email": "ANNA@example.com"}]
    segment = run(
        shop,
        lambda uow: segments.create(
            uow, {"segment_id": "vip", "name": "VIP", "kind": "static", "members": listed}, NOW
        ),
    )
    assert (segment["kind"], segment["member_count"], segment["conditions"]) == ("static", 3, None)
    assert members_of(shop, "vip") == [anna, boris, vera]
    segments.recompute(shop, NOW)  # the job leaves static lists as they are
    assert members_of(shop, "vip") == [anna, boris, vera]

    csv = tmp_path / "vip.csv"
    csv.write_text("member_id,phone,email\n,+79123456702,\n,,anna@example.com\n")
    updated = run(shop, lambda uow: segments.import_static(uow, "vip", "VIP guests", read_references(csv), NOW))
    assert (updated["name"], updated["member_count"]) == ("VIP guests", 2)
    assert members_of(shop, "vip") == [anna, boris]


def test_every_unknown_reference_is_reported_and_nothing_is_stored(shop: Engine, tmp_path: Path) -> None:
    anna = join(shop, 1)
    before = stored(shop)
    listed = [{"member_id": anna}, {"phone": "+79990000000"}, {"member_id": 999}, {"email": "nobody"}, {}]
    with pytest.raises(InvalidInput) as caught:
        run(
            shop,
            lambda uow: segments.create(
                uow, {"segment_id": "x", "name": "X", "kind": "static", "members": listed}, NOW
            ),
        )
    assert [(p.path, p.reason) for p in caught.value.problems] == [
        ("members[4]", "must name the member by exactly one of member_id, phone, email, card, external_id")
    ]
    with pytest.raises(InvalidInput) as caught:
        run(
            shop,
            lambda uow: segments.create(
                uow, {"segment_id": "x", "name": "X", "kind": "static", "members": listed[:4]}, NOW
            ),
        )
    assert [(p.path, p.reason) for p in caught.value.problems] == [
        ("members[1].phone", "no member with phone +79990000000"),
        ("members[2].member_id", "no member with member_id 999"),
        ("members[3].email", "'nobody' is not an email address"),
    ]
    csv = tmp_path / "list.csv"
    csv.write_text("phone,external_id\n+79123456701,\n,crm-404\n+7 000,\n")
    with pytest.raises(InvalidInput) as caught:
        run(shop, lambda uow: segments.import_static(uow, "x", None, read_references(csv), NOW))
    assert [p.path for p in caught.value.problems] == ["line 3.external_id", "line 4.phone"]
    assert stored(shop) == before


def test_bad_definitions_change_nothing(engine: Engine) -> None:
    tiers = {
        "levels": [{"id": "silver", "name": "Silver", "from": "0"}, {"id": "gold", "name": "Gold", "from": "15000"}]
    }
    publish(engine, seed_program(tiers=tiers), effective_from=SINCE)
    member_id = join(engine, 1)
    buy(engine, member_id, "o", "800.00")
    create(engine, "check-800", [{"average_check": {"min": "700", "max": "900"}}])
    before = stored(engine)

    bad = [
        {"average_check": {"min": "900", "max": "700"}},
        {"loyal": True},
        {"tier": ["platinum"]},
        {"total_spend": {"min": "10.001"}},
    ]
    with pytest.raises(InvalidInput) as caught:
        create(engine, "Bad Id", bad, kind="rule")
    assert [p.path for p in caught.value.problems] == [
        "segment_id",
        "conditions[0].average_check",
        "conditions[1].loyal",
        "conditions[2].tier",
        "conditions[3].total_spend.min",
    ]
    assert "unknown tier 'platinum'" in caught.value.problems[3].reason
    with pytest.raises(InvalidInput):
        run(engine, lambda uow: segments.update(uow, "check-800", {"conditions": bad}, NOW))
    with pytest.raises(InvalidInput, match="kind"):
        run(
            engine,
            lambda uow: segments.update(uow, "check-800", {"kind": "static", "members": [{"member_id": 1}]}, NOW),
        )
    with pytest.raises(InvalidInput, match="members"):
        create(engine, "mixed", [{"tier": "gold"}], members=[{"member_id": member_id}])
    with pytest.raises(Conflict):
        create(engine, "check-800", [{"tier": "gold"}])
    with pytest.raises(NotFound):
        run(engine, lambda uow: segments.update(uow, "missing", {"conditions": [{"tier": "gold"}]}, NOW))
    assert stored(engine) == before
    assert read(engine, lambda uow: uow.conn.execute(select(func.count()).select_from(t.segments)).scalar_one()) == 1


def test_a_tier_of_a_scheduled_version_is_known_and_recompute_of_a_missing_segment_fails(shop: Engine) -> None:
    tiers = {"levels": [{"id": "base", "name": "Base", "from": "0"}, {"id": "gold", "name": "Gold", "from": "15000"}]}
    publish(shop, seed_program(tiers=tiers), effective_from=NOW + timedelta(days=30))
    assert create(shop, "gold-soon", [{"tier": "gold"}])["member_count"] == 0
    with pytest.raises(NotFound):
        segments.recompute(shop, NOW, ["missing"])
