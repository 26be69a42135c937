"""Win-back points: the program's `win_back` section, lots with a share limit of their own, and how the quote and the
spend keep that limit to those points only."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.checkout.cart import Cart, CartLine
from loyalty.checkout.quote import Quote, quote
from loyalty.core.errors import InsufficientPoints, InvalidInput
from loyalty.core.money import parse_money
from loyalty.ledger.model import Draw, Lot, draw_spend, spendable, spendable_by_share
from loyalty.program.document import MAX_POINTS, parse_program
from loyalty.program.model import Program, WinBackPolicy

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HALF = Decimal("0.5")
WIN_BACK = {"inactive_days": 90, "points": 500, "expires_after_days": 14}


def program(**sections: Any) -> Program:
    document: dict[str, Any] = {"name": "Test", "earning": {"rules": [{"id": "base", "percent": 5}]}}
    document.update(sections)
    return parse_program(document)


def problems(**sections: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        program(**sections)
    return {p.path: p.reason for p in caught.value.problems}


def rub(amount: str) -> int:
    return parse_money(amount, 2, "amount")


def cart(*lines: str | tuple[str, str | None]) -> Cart:
    built = []
    for i, item in enumerate(lines):
        price, category = (item, "clothes") if isinstance(item, str) else item
        built.append(CartLine(f"l{i}", f"sku-{i}", category, 1, rub(price)))
    return Cart(tuple(built), AT)


def price(p: Program, c: Cart, *, ordinary: int, win_back: int, requested: int) -> Quote:
    restricted = {HALF: win_back} if win_back else {}
    return quote(p, c, available=ordinary + win_back, requested=requested, is_member=True, restricted=restricted)


def day(n: int) -> datetime:
    return AT + timedelta(days=n)


# --- the program document ----------------------------------------------------------------------------------------


def test_the_win_back_section_reads_into_a_policy_with_half_an_order_by_default() -> None:
    assert program(win_back=WIN_BACK).win_back == WinBackPolicy(90, 500, 14, Decimal("0.5"), None)
    full = {**WIN_BACK, "max_share_percent": "33.33", "repeat_after_days": 60}
    assert program(win_back=full).win_back == WinBackPolicy(90, 500, 14, Decimal("0.3333"), 60)
    assert program().win_back is None


def test_a_win_back_section_without_its_required_fields_names_each_of_them() -> None:
    found = problems(win_back={"max_share_percent": 50})
    assert set(found) == {"win_back.inactive_days", "win_back.points", "win_back.expires_after_days"}
    assert all(reason.startswith("is required") for reason in found.values())


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("points", 0, "must be at least 1, got 0"),
        ("points", MAX_POINTS + 1, f"must be at most {MAX_POINTS}"),
        ("points", "many", "must be an integer"),
        ("inactive_days", 0, "must be at least 1"),
        ("expires_after_days", -3, "must be at least 1"),
        ("repeat_after_days", 0, "must be at least 1"),
        ("max_share_percent", 0, "must be above 0"),
        ("max_share_percent", 150, "must be between 0 and 100"),
        ("max_share_percent", "12.345", "at most two decimals"),
        ("max_share_percent", "half", "number"),
    ],
)
def test_a_bad_win_back_value_is_refused_with_its_path(field: str, value: object, reason: str) -> None:
    found = problems(win_back={**WIN_BACK, field: value})
    assert list(found) == [f"win_back.{field}"]
    assert reason in found[f"win_back.{field}"]


def test_a_win_back_section_must_be_a_mapping_of_known_fields() -> None:
    assert problems(win_back=[500]) == {"win_back": "must be a mapping"}
    assert "unknown field" in problems(win_back={**WIN_BACK, "sms": "Come back!"})["win_back.sms"]


# --- which lots a spend may draw from ----------------------------------------------------------------------------


def lot(no: int, points: int, *, expires: int | None = None, share: Decimal | None = None) -> Lot:
    return Lot(no, points, points, AT, None if expires is None else day(expires), share)


def test_a_restricted_lot_gives_no_more_than_its_cap_and_the_rest_comes_from_later_lots() -> None:
    lots = [lot(1, 500, expires=14, share=HALF), lot(2, 200, expires=300)]
    assert draw_spend(lots, 500, AT, caps={HALF: 300}) == [Draw(1, 300), Draw(2, 200)]
    assert [x.remaining for x in lots] == [200, 0]


def test_within_its_cap_a_restricted_lot_is_still_drawn_soonest_expiring_first() -> None:
    lots = [lot(1, 200, expires=300), lot(2, 500, expires=14, share=HALF), lot(3, 100, expires=7, share=HALF)]
    assert draw_spend(lots, 250, AT, caps={HALF: 200}) == [Draw(3, 100), Draw(2, 100), Draw(1, 50)]


def test_a_restricted_lot_whose_share_has_no_cap_gives_nothing() -> None:
    lots = [lot(1, 500, expires=14, share=HALF), lot(2, 200)]
    with pytest.raises(InsufficientPoints) as caught:
        draw_spend(lots, 201, AT, caps={})
    assert "only 200 can pay for this order" in caught.value.problems[0].reason
    assert [x.remaining for x in lots] == [500, 200]
    assert draw_spend(lots, 200, AT, caps={}) == [Draw(2, 200)]


def test_without_caps_restricted_lots_are_drawn_like_any_other() -> None:
    lots = [lot(1, 500, expires=14, share=HALF), lot(2, 200)]
    assert draw_spend(lots, 600, AT) == [Draw(1, 500), Draw(2, 100)]


def test_spendable_points_split_by_share() -> None:
    lots = [lot(1, 500, expires=14, share=HALF), lot(2, 200), lot(3, 50, expires=1, share=HALF), lot(4, 9, expires=0)]
    assert spendable_by_share(lots, AT) == {HALF: 550, None: 200}
    assert spendable_by_share(lots, day(1)) == {HALF: 500, None: 200}


SHARES = [Decimal("0.25"), HALF, Decimal(1)]


@st.composite
def mixed_lots(draw: st.DrawFn) -> list[Lot]:
    lots = []
    for no in range(1, draw(st.integers(min_value=0, max_value=10)) + 1):
        points = draw(st.integers(min_value=1, max_value=1000))
        expires = draw(st.none() | st.integers(min_value=1, max_value=60))
        share = draw(st.none() | st.sampled_from(SHARES))
        lots.append(lot(no, points, expires=expires, share=share))
    return lots


@given(mixed_lots(), st.dictionaries(st.sampled_from(SHARES), st.integers(min_value=0, max_value=2000)), st.data())
def test_a_capped_spend_takes_exactly_the_points_and_never_more_than_a_cap_from_restricted_lots(
    lots: list[Lot], caps: dict[Decimal, int], data: st.DataObject
) -> None:
    at = day(data.draw(st.integers(min_value=0, max_value=70)))
    usable = sum(n if s is None else min(n, caps.get(s, 0)) for s, n in spendable_by_share(lots, at).items())
    points = data.draw(st.integers(min_value=0, max_value=usable))
    share_of = {x.lot_no: x.max_share for x in lots}
    could = spendable(lots, at)

    draws = draw_spend(lots, points, at, caps=caps)

    assert sum(d.points for d in draws) == points
    assert spendable(lots, at) == could - points
    for share in SHARES:
        assert sum(d.points for d in draws if share_of[d.lot_no] == share) <= caps.get(share, 0)
    assert all(0 <= x.remaining <= x.points for x in lots)


@given(mixed_lots(), st.dictionaries(st.sampled_from(SHARES), st.integers(min_value=0, max_value=2000)), st.data())
def test_a_capped_spend_beyond_what_the_caps_allow_is_refused_and_changes_nothing(
    lots: list[Lot], caps: dict[Decimal, int], data: st.DataObject
) -> None:
    at = day(data.draw(st.integers(min_value=0, max_value=70)))
    usable = sum(n if s is None else min(n, caps.get(s, 0)) for s, n in spendable_by_share(lots, at).items())
    before = copy.deepcopy(lots)
    with pytest.raises(InsufficientPoints):
        draw_spend(lots, usable + data.draw(st.integers(min_value=1, max_value=1000)), at, caps=caps)
    assert lots == before


# --- the quote ---------------------------------------------------------------------------------------------------


def test_the_seed_case_win_back_points_pay_at_most_half_and_ordinary_points_the_rest() -> None:
    """600 RUB with 200 ordinary points and 500 win-back points: 300 win-back points (half of 600) + 200 ordinary."""
    q = price(program(), cart("600.00"), ordinary=200, win_back=500, requested=700)
    assert (q.max_points, q.points_applied, q.amount_to_pay) == (500, 500, rub("100.00"))
    assert q.spend_caps == ((HALF, 300),)
    limited = [r for r in q.reasons if r.source == "win_back"]
    assert [(r.outcome, r.points, r.message) for r in limited] == [
        ("limited", 300, "win-back points can pay at most 50% of the order")
    ]


def test_the_limit_applies_only_to_win_back_points() -> None:
    # Ordinary points alone still pay the whole order, as the program allows.
    q = price(program(), cart("600.00"), ordinary=1000, win_back=500, requested=600)
    assert (q.max_points, q.points_applied, q.amount_to_pay) == (600, 600, 0)
    assert not [r for r in q.reasons if r.source == "win_back"]
    assert q.spend_caps == ((HALF, 300),)


def test_the_programs_own_limit_still_bounds_every_point() -> None:
    p = program(redemption={"max_share_percent": 30})
    q = price(p, cart("600.00"), ordinary=200, win_back=500, requested=700)
    assert q.max_points == 180
    assert not [r for r in q.reasons if r.source == "win_back"]  # the program's limit bites first


def test_win_back_points_alone_pay_half_of_the_eligible_amount() -> None:
    p = program(redemption={"excluded_categories": ["delivery"]})
    q = price(p, cart("600.00", ("399.99", "delivery")), ordinary=0, win_back=500, requested=500)
    # Half of the 600 RUB that points may pay; the delivery counts for nothing.
    assert (q.max_points, q.points_applied) == (300, 300)
    assert q.amount_to_pay == rub("699.99")


def test_the_share_cap_rounds_down_to_whole_points() -> None:
    q = price(program(), cart("99.99"), ordinary=0, win_back=500, requested=500)
    assert q.spend_caps == ((HALF, 49),)  # 49.995 RUB is 49 whole points
    assert q.max_points == 49


def test_restricted_points_beyond_the_available_ones_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="part of the available"):
        quote(program(), cart("600.00"), available=100, requested=0, is_member=True, restricted={HALF: 500})


@given(
    st.integers(min_value=1, max_value=200_000),
    st.integers(min_value=0, max_value=5000),
    st.dictionaries(st.sampled_from(SHARES), st.integers(min_value=1, max_value=5000), max_size=3),
    st.integers(min_value=0, max_value=100),
    st.data(),
)
def test_a_quote_never_lets_restricted_points_pay_beyond_their_share_and_its_spend_always_fits(
    amount: int, ordinary: int, restricted: dict[Decimal, int], percent: int, data: st.DataObject
) -> None:
    p = program(redemption={"max_share_percent": percent})
    c = Cart((CartLine("l0", "sku", "clothes", 1, amount),), AT)
    available = ordinary + sum(restricted.values())
    requested = data.draw(st.integers(min_value=0, max_value=available))
    q = quote(p, c, available=available, requested=requested, is_member=True, restricted=restricted)
    caps = dict(q.spend_caps)
    assert set(caps) == set(restricted)
    for share, cap in caps.items():
        assert cap * p.point_value <= amount * share  # a share's points never pay more than its share
    assert q.points_applied <= ordinary + sum(min(n, caps[s]) for s, n in restricted.items())
    assert q.points_applied <= amount * Decimal(percent) / 100  # nor the program's limit
    assert q.points_applied == min(requested, q.max_points)
    # The spend of what the quote applied fits within its caps, from lots holding exactly these points.
    lots = [lot(1, ordinary)] if ordinary else []
    lots += [lot(2 + i, n, expires=10, share=s) for i, (s, n) in enumerate(sorted(restricted.items()))]
    draws = draw_spend(lots, q.points_applied, AT, caps=caps)
    assert sum(d.points for d in draws) == q.points_applied
