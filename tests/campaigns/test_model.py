"""Campaigns and personal offers in the quote: time boxes, audiences, stacking, limits, redemption changes, and
the definitions a marketer writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.campaigns.document import parse_campaign
from loyalty.campaigns.model import Campaign
from loyalty.checkout.cart import Cart, CartLine
from loyalty.checkout.quote import Quote, quote
from loyalty.core.errors import InvalidInput
from loyalty.core.money import parse_money
from loyalty.program.document import parse_program
from loyalty.program.model import Program

MSK = ZoneInfo("Europe/Moscow")
NOV = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # a Tuesday, 15:00 in Moscow


def program(**sections: Any) -> Program:
    document: dict[str, Any] = {
        "name": "Test",
        "timezone": "Europe/Moscow",
        "earning": {"rules": [{"id": "base", "name": "Cashback", "percent": 5}]},
        "tiers": {
            "levels": [
                {"id": "silver", "name": "Silver", "from": "0"},
                {"id": "gold", "name": "Gold", "from": "15000"},
            ],
        },
    }
    document.update(sections)
    return parse_program(document)


def campaign(**fields: Any) -> Campaign:
    definition: dict[str, Any] = {"id": "c", "name": "Campaign", "starts_at": "2026-11-01", "ends_at": "2026-11-30"}
    definition.update(fields)
    personal = definition.pop("personal", False)
    return parse_campaign(definition, timezone=MSK, personal=personal, tiers=frozenset({"silver", "gold"}))


def rub(amount: str) -> int:
    return parse_money(amount, 2, "amount")


def cart(*lines: tuple[str, str], at: datetime = NOV) -> Cart:
    return Cart(tuple(CartLine(f"l{i}", f"sku-{i}", c, 1, rub(p)) for i, (p, c) in enumerate(lines)), at)


def price(
    c: Cart,
    *campaigns: Campaign,
    available: int = 0,
    requested: int = 0,
    limits: dict[str, int] | None = None,
    **attributes: object,
) -> Quote:
    attrs: dict[str, object] = {"tier": "silver", "segments": frozenset(), "listed": frozenset()}
    attrs.update(attributes)
    return quote(
        program(),
        c,
        available=available,
        requested=requested,
        is_member=True,
        member_attributes=attrs,
        campaigns=campaigns,
        campaign_limits=limits,
    )


def by_source(q: Quote) -> dict[str, int]:
    return q.earned_by_rule


def test_x2_points_on_coffee_in_november_is_one_campaign() -> None:
    x2 = campaign(id="coffee-x2", name="x2 on coffee", earning={"categories": ["coffee"], "multiplier": 2})
    c = cart(("1000", "coffee"), ("1000", "tea"))
    q = price(c, x2)
    assert by_source(q) == {"base": 100, "campaign:coffee-x2": 50}
    assert q.lines[0].points_earned == 100 and q.lines[1].points_earned == 50
    # Before and after November, only the program's 5%.
    assert by_source(price(cart(("1000", "coffee"), at=datetime(2026, 10, 31, 20, 59, tzinfo=UTC)), x2)) == {"base": 50}
    assert by_source(price(cart(("1000", "coffee"), at=datetime(2026, 11, 30, 21, 0, tzinfo=UTC)), x2)) == {"base": 50}
    assert by_source(price(cart(("1000", "coffee"), at=datetime(2026, 11, 30, 20, 59, tzinfo=UTC)), x2)) == {
        "base": 50,
        "campaign:coffee-x2": 50,
    }


def test_days_of_week_and_hours_in_the_programs_time_zone() -> None:
    happy = campaign(days_of_week=["mon", "tue"], hours={"from": "14:00", "to": "16:00"}, earning={"percent": 5})
    assert by_source(price(cart(("1000", "x")), happy))["campaign:c"] == 50  # Tuesday 15:00 Moscow
    assert "campaign:c" not in by_source(
        price(cart(("1000", "x"), at=datetime(2026, 11, 10, 13, 0, tzinfo=UTC)), happy)
    )
    assert "campaign:c" not in by_source(
        price(cart(("1000", "x"), at=datetime(2026, 11, 11, 12, 0, tzinfo=UTC)), happy)
    )


def test_a_night_window_belongs_to_the_evening_it_started_on() -> None:
    night = campaign(days_of_week=["fri"], hours={"from": "22:00", "to": "02:00"}, earning={"fixed_points": 10})
    friday_late = datetime(2026, 11, 13, 20, 0, tzinfo=UTC)  # Friday 23:00 Moscow
    saturday_early = datetime(2026, 11, 13, 22, 30, tzinfo=UTC)  # Saturday 01:30 Moscow
    saturday_late = datetime(2026, 11, 14, 20, 0, tzinfo=UTC)
    assert by_source(price(cart(("100", "x"), at=friday_late), night)).get("campaign:c") == 10
    assert by_source(price(cart(("100", "x"), at=saturday_early), night)).get("campaign:c") == 10
    assert by_source(price(cart(("100", "x"), at=saturday_late), night)).get("campaign:c") is None


def test_the_seed_offer_ten_percent_instead_of_five_from_1000_roubles() -> None:
    offer = campaign(
        id="avg-check",
        name="10% from 1,000 ₽",
        personal=True,
        audience={"segments": ["usual-800"]},
        stacking="best",
        earning={"percent": 10, "min_order_amount": "1000"},
    )
    member = {"segments": frozenset({"usual-800"})}
    q = price(cart(("1200", "x")), offer, **member)
    assert q.points_to_earn == 120 and by_source(q) == {"offer:avg-check": 120}
    assert next(r for r in q.reasons if r.source == "stacking").points == -60
    below = price(cart(("900", "x")), offer, **member)
    assert by_source(below) == {"base": 45}
    assert any(r.source == "offer:avg-check" and r.outcome == "blocked" for r in below.reasons)
    # Other members are not in the offer's audience, and the quote does not mention it to them.
    other = price(cart(("1200", "x")), offer)
    assert by_source(other) == {"base": 60} and all(r.source != "offer:avg-check" for r in other.reasons)


def test_best_one_wins_line_by_line_and_add_stacks() -> None:
    coffee = campaign(id="coffee", stacking="best", earning={"categories": ["coffee"], "percent": 10})
    tea = campaign(id="tea", stacking="best", priority=5, earning={"percent": 8})
    bonus = campaign(id="bonus", earning={"fixed_points": 7})
    q = price(cart(("1000", "coffee"), ("1000", "tea")), coffee, tea, bonus)
    # coffee line: coffee 100 > tea 80 > base 50; tea line: tea 80 > base 50; the fixed bonus adds.
    assert {part.rule_id for part in q.lines[0].earned_by} == {"campaign:coffee", "campaign:bonus"}
    assert by_source(q) == {"campaign:coffee": 100, "campaign:tea": 80, "campaign:bonus": 7}
    assert q.points_to_earn == 187


def test_exclusive_keeps_other_campaigns_out_but_not_the_program() -> None:
    a = campaign(id="a", stacking="exclusive", priority=1, earning={"percent": 3})
    b = campaign(id="b", stacking="exclusive", priority=9, earning={"percent": 1})
    c = campaign(id="c", earning={"percent": 20})
    q = price(cart(("1000", "x")), a, b, c)
    assert by_source(q) == {"base": 50, "campaign:b": 10}
    assert {r.source for r in q.reasons if r.outcome == "blocked"} == {"campaign:a", "campaign:c"}


def test_budget_and_member_cap_limit_the_points_and_say_so() -> None:
    big = campaign(budget_points=1000, earning={"percent": 10})
    q = price(cart(("1000", "x")), big, limits={"c": 30})
    assert by_source(q)["campaign:c"] == 30
    assert ("limited", 30) in [(r.outcome, r.points) for r in q.reasons if r.source == "campaign:c"]
    spent = price(cart(("1000", "x")), big, limits={"c": 0})
    assert "campaign:c" not in by_source(spent)


def test_audiences_by_tier_and_by_list() -> None:
    gold = campaign(audience={"tiers": ["gold"]}, earning={"fixed_points": 100})
    assert "campaign:c" not in by_source(price(cart(("100", "x")), gold))
    assert by_source(price(cart(("100", "x")), gold, tier="gold"))["campaign:c"] == 100
    listed = campaign(id="vip", personal=True, audience={"members": [{"member_id": 1}]}, earning={"fixed_points": 5})
    assert "offer:vip" not in by_source(price(cart(("100", "x")), listed))
    assert by_source(price(cart(("100", "x")), listed, listed=frozenset({"vip"})))["offer:vip"] == 5


def test_a_paused_campaign_gives_nothing() -> None:
    assert "campaign:c" not in by_source(price(cart(("100", "x")), campaign(enabled=False, earning={"percent": 5})))


def test_a_redemption_campaign_changes_the_limits_while_in_force() -> None:
    p = program(redemption={"max_share_percent": 30, "min_check": "1000"})
    weekend = campaign(id="half", redemption={"max_share_percent": 50, "min_check": "500"})
    c = cart(("800", "x"))
    base = quote(p, c, available=1000, requested=1000, is_member=True)
    assert base.max_points == 0
    q = quote(p, c, available=1000, requested=1000, is_member=True, campaigns=[weekend])
    assert q.max_points == 400 and q.points_applied == 400
    assert ("applied", 0) in [(r.outcome, r.points) for r in q.reasons if r.source == "campaign:half"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"ends_at": "2026-10-01"}, "ends_at"),
        ({"budget_points": -1}, "budget_points"),
        ({"per_member_cap_points": 0}, "per_member_cap_points"),
        ({"audience": {"tiers": ["platinum"]}}, "audience.tiers"),
        ({"audience": {"segments": []}}, "audience.segments"),
        ({"stacking": "sometimes"}, "stacking"),
        ({"earning": {"multiplier": 2}, "stacking": "best"}, "stacking"),
        ({"earning": {"percent": 5, "fixed_points": 3}}, "earning"),
        ({"earning": {"percent": 500}}, "earning.percent"),
        ({"earning": None, "redemption": None}, "earning"),
        ({"redemption": {"max_share_percent": 120}}, "redemption.max_share_percent"),
        ({"days_of_week": ["someday"]}, "days_of_week[0]"),
        ({"hours": {"from": "25:00", "to": "10:00"}}, "hours.from"),
        ({"starts_at": "2026-11-01T00:00:00"}, "starts_at"),
        ({"id": "Bad Id"}, "id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_definition_names_the_field(fields: dict[str, Any], path: str) -> None:
    fields.setdefault("earning", {"percent": 5})
    if fields["earning"] is None:
        del fields["earning"]
    with pytest.raises(InvalidInput) as error:
        campaign(**fields)
    assert path in [p.path for p in error.value.problems]


def test_an_offer_must_be_aimed_at_chosen_members() -> None:
    with pytest.raises(InvalidInput) as error:
        campaign(personal=True, earning={"percent": 5})
    assert error.value.problems[0].path == "audience"


_PERCENT = st.integers(min_value=0, max_value=100)


@settings(max_examples=150, deadline=None)
@given(
    prices=st.lists(st.integers(min_value=1, max_value=500_000), min_size=1, max_size=5),
    program_share=_PERCENT,
    campaign_shares=st.lists(st.tuples(_PERCENT, st.integers(-5, 5), st.booleans()), max_size=4),
    earning=st.lists(st.tuples(st.sampled_from(["add", "best", "exclusive"]), st.integers(0, 100)), max_size=4),
    available=st.integers(min_value=0, max_value=10_000),
)
def test_no_combination_of_campaigns_pays_more_than_the_redemption_policy_allows(
    prices: list[int],
    program_share: int,
    campaign_shares: list[tuple[int, int, bool]],
    earning: list[tuple[str, int]],
    available: int,
) -> None:
    p = program(redemption={"max_share_percent": program_share, "excluded_categories": ["tobacco"]})
    lines = tuple(
        CartLine(f"l{i}", f"s{i}", "tobacco" if i == 0 and len(prices) > 1 else "x", 1, amount)
        for i, amount in enumerate(prices)
    )
    c = Cart(lines, NOV)
    redemption = [
        campaign(id=f"r{i}", priority=priority, enabled=on, redemption={"max_share_percent": share})
        for i, (share, priority, on) in enumerate(campaign_shares)
    ]
    earners = [
        campaign(id=f"e{i}", stacking=mode, earning={"percent": percent}) for i, (mode, percent) in enumerate(earning)
    ]
    q = quote(p, c, available=available, requested=available, is_member=True, campaigns=[*redemption, *earners])
    in_force = sorted((cp for cp in redemption if cp.enabled), key=lambda cp: (-cp.priority, cp.id))
    share = in_force[0].redemption.max_share if in_force and in_force[0].redemption else p.redemption.max_share
    assert share is not None
    payable = [line.amount for line in q.lines if line.category != "tobacco"]
    assert q.points_applied <= min(available, int(sum(payable) * share))
    assert all(line.amount_to_pay >= 0 for line in q.lines)
    assert all(line.points_applied == 0 for line in q.lines if line.category == "tobacco")
    # Earning campaigns never change what points pay for.
    without = quote(p, c, available=available, requested=available, is_member=True, campaigns=redemption)
    assert without.points_applied == q.points_applied
    assert q.points_to_earn == sum(q.earned_by_rule.values()) >= 0
