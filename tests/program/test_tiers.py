"""Tiers with the seed's figures: 15,000 ₽ over the lifetime → level 2, 100,000 ₽ → level 3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.checkout.cart import Cart, CartLine
from loyalty.checkout.quote import quote
from loyalty.core.errors import InvalidInput
from loyalty.program.document import parse_program
from loyalty.program.tiers import TierPeriod, TierPolicy

MOSCOW = ZoneInfo("Europe/Moscow")
RUB = 100


def program(**tiers: object) -> dict[str, object]:
    return {
        "name": "Tiered",
        "timezone": "Europe/Moscow",
        "earning": {
            "rules": [
                {"id": "base", "name": "5% cashback", "percent": 5},
                {
                    "id": "gold-only",
                    "name": "Gold coffee",
                    "fixed_points": 10,
                    "tiers": ["gold"],
                    "categories": ["coffee"],
                },
            ]
        },
        "tiers": {
            "levels": [
                {"id": "silver", "name": "Silver", "from": "0"},
                {"id": "gold", "name": "Gold", "from": "15000", "multiplier": "1.5", "privileges": ["free_delivery"]},
                {
                    "id": "platinum",
                    "name": "Platinum",
                    "from": "100000",
                    "multiplier": 2,
                    "privileges": ["free_delivery", "personal_manager", "early_access"],
                },
            ],
            **tiers,
        },
    }


def policy(**tiers: object) -> TierPolicy:
    document = program(**tiers)
    if "levels" in tiers:  # other levels: drop the rule that names Gold
        document["earning"] = {"rules": [{"id": "base", "percent": 5}]}
    parsed = parse_program(document).tiers
    assert parsed is not None
    return parsed


def test_the_seed_thresholds_pick_the_level() -> None:
    tiers = policy()
    assert tiers.level_for(0).id == "silver"
    assert tiers.level_for(14_999_99).id == "silver"
    assert tiers.level_for(15_000 * RUB).id == "gold"
    assert tiers.level_for(99_999_99).id == "gold"
    assert tiers.level_for(100_000 * RUB).id == "platinum"
    assert tiers.level("platinum").privileges == ("free_delivery", "personal_manager", "early_access")


def test_progress_to_the_next_level() -> None:
    tiers = policy()
    progress = tiers.progress(12_650 * RUB, tiers.level("silver"))
    assert progress.next_level is not None and progress.next_level.id == "gold"
    assert progress.remaining == 2_350 * RUB  # "2,350 ₽ more to Gold"
    assert tiers.progress(150_000 * RUB, tiers.level("platinum")).next_level is None


def test_upgrade_at_once_but_downgrade_only_after_the_level_is_kept() -> None:
    tiers = policy(period="rolling", rolling_days=365, grace_days=30)
    gold = tiers.level("gold")
    assert tiers.upgrade(tiers.level("silver"), 15_000 * RUB) == gold
    assert tiers.upgrade(gold, 15_000 * RUB) is None
    reached = datetime(2026, 3, 1, tzinfo=UTC)
    kept = tiers.kept_until(reached, MOSCOW)
    assert kept == reached + timedelta(days=365)
    assert tiers.reevaluate(gold, 0, kept, kept - timedelta(days=1)) == gold
    assert tiers.reevaluate(gold, 0, kept, kept + timedelta(days=29)) == gold  # within the grace period
    assert tiers.reevaluate(gold, 0, kept, kept + timedelta(days=30)).id == "silver"
    assert tiers.reevaluate(gold, 120_000 * RUB, kept, kept).id == "platinum"


def test_a_lifetime_level_never_goes_down() -> None:
    tiers = policy(period="lifetime")
    gold = tiers.level("gold")
    reached = datetime(2026, 3, 1, tzinfo=UTC)
    assert tiers.kept_until(reached, MOSCOW) is None
    for years in (0, 1, 50):
        assert tiers.reevaluate(gold, 0, None, reached + timedelta(days=365 * years)) == gold
    # Dated under an earlier rolling version, still kept for ever once the period is lifetime.
    assert tiers.reevaluate(gold, 0, reached, reached + timedelta(days=400)) == gold
    # Reached under a lifetime version, no date yet under a rolling one: not taken away without a period's notice.
    assert policy(period="rolling").reevaluate(gold, 0, None, reached + timedelta(days=400)) == gold


def test_calendar_year_window_and_keep() -> None:
    tiers = policy(period="calendar_year")
    at = datetime(2026, 7, 15, 12, tzinfo=UTC)
    assert tiers.window_start(at, MOSCOW) == datetime(2026, 1, 1, tzinfo=MOSCOW)
    assert tiers.kept_until(at, MOSCOW) == datetime(2028, 1, 1, tzinfo=MOSCOW)
    assert policy().window_start(at, MOSCOW) is None
    assert policy().period is TierPeriod.LIFETIME


def test_order_count_basis() -> None:
    tiers = policy(qualify_by="orders", levels=[{"id": "new", "from": 0}, {"id": "regular", "from": 5}])
    assert tiers.level_for(4).id == "new"
    assert tiers.level_for(5).id == "regular"


def test_the_tier_multiplies_points_and_names_them() -> None:
    parsed = parse_program(program())
    cart = Cart((CartLine("1", "beans", "coffee", 1, 10_000 * RUB),), datetime(2026, 11, 1, tzinfo=UTC))
    silver = quote(parsed, cart, available=0, requested=0, is_member=True, member_attributes={"tier": "silver"})
    assert silver.points_to_earn == 500
    gold = quote(parsed, cart, available=0, requested=0, is_member=True, member_attributes={"tier": "gold"})
    assert gold.earned_by_rule == {"base": 500, "tier:gold": 250 + 5, "gold-only": 10}
    assert gold.points_to_earn == 765
    assert any(r.source == "tier:gold" and r.outcome == "applied" for r in gold.reasons)
    assert any(r.source == "gold-only" and r.outcome == "blocked" for r in silver.reasons)


@pytest.mark.parametrize(
    ("levels", "path"),
    [
        ([{"id": "a", "from": "10"}], "tiers.levels[0].from"),
        ([{"id": "a", "from": "0"}, {"id": "b", "from": "100"}, {"id": "c", "from": "100"}], "tiers.levels[2].from"),
        ([{"id": "a", "from": "0"}, {"id": "b", "from": "100"}, {"id": "c", "from": "50"}], "tiers.levels[2].from"),
        ([{"id": "a", "from": "0"}, {"id": "a", "from": "100"}], "tiers.levels[1].id"),
        ([{"id": "a", "from": "0", "multiplier": "0.5"}], "tiers.levels[0].multiplier"),
        ([], "tiers.levels"),
    ],
)
def test_bad_tiers_are_refused_with_the_path(levels: list[object], path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_program({"name": "x", "tiers": {"levels": levels}})
    assert path in [p.path for p in caught.value.problems]


def test_a_rule_for_an_unknown_tier_is_refused() -> None:
    document = program()
    document["earning"] = {"rules": [{"id": "r", "percent": 1, "tiers": ["diamond"]}]}
    with pytest.raises(InvalidInput) as caught:
        parse_program(document)
    assert "earning.rules[0].tiers" in [p.path for p in caught.value.problems]


@given(
    st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=6, unique=True),
    st.integers(min_value=0, max_value=10**8),
)
def test_level_for_is_the_highest_reached(thresholds: list[int], value: int) -> None:
    ordered = sorted(thresholds)
    levels = [{"id": "base", "from": "0"}] + [
        {"id": f"l{i}", "from": str(Decimal(t) / 100)} for i, t in enumerate(ordered)
    ]
    tiers = policy(levels=levels)
    level = tiers.level_for(value)
    assert level.threshold <= value
    assert all(lv.threshold > value for lv in tiers.levels[tiers.rank(level) + 1 :])
