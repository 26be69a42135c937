"""The synthetic history generator: reproducible from its seed, in the importers' formats, exact money, and the
statistics it promises (heavy-tailed spend, seasonality, non-members, churn, home cities) on a medium sample."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.checkout import imports
from loyalty.core.errors import InvalidInput
from loyalty.replay.generator import History, HistoryShape, apportion, money

START = date(2024, 1, 1)


def files(shape: HistoryShape) -> tuple[str, str, str]:
    history = History(shape)
    return (
        history.store_text(),
        "".join(history.member_chunks(size=37)),
        "".join(day.text for day in history.order_chunks()),
    )


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_same_seed_gives_the_same_files_and_another_seed_other_files() -> None:
    shape = HistoryShape(members=300, orders=2000, seed=7, start=START, months=3)
    first = files(shape)
    assert files(shape) == first
    other = files(HistoryShape(members=300, orders=2000, seed=8, start=START, months=3))
    assert other[1] != first[1]
    assert other[2] != first[2]
    # A part's draws do not depend on another part's size: more members leave the catalogue as it was.
    skus = {(r["sku"], r["category"], r["price"]) for r in rows(first[2])}
    more = {(r["sku"], r["category"], r["price"]) for r in rows(files(HistoryShape(1000, 2000, 7, START, 3))[2])}
    assert skus & more


def test_the_files_have_the_importers_columns_and_exact_money() -> None:
    stores, members, orders = files(HistoryShape(members=200, orders=3000, seed=1, start=START, months=2))
    assert members.splitlines()[0].split(",") == list(imports.MEMBER_COLUMNS)
    assert orders.splitlines()[0].split(",") == list(imports.ORDER_COLUMNS)
    assert stores.splitlines()[0] == "store_id,city,name"
    lines = rows(orders)
    by_order: dict[str, list[dict[str, str]]] = defaultdict(list)
    for line in lines:
        by_order[line["order_id"]].append(line)
        price, discount = Decimal(line["price"]), Decimal(line["discount"])
        assert price.as_tuple().exponent == -2 and discount.as_tuple().exponent == -2
        assert Decimal(0) <= discount <= price * int(line["quantity"])
        assert line["points"] == "0"
        assert (line["store"] != "") == (line["channel"] == "store")
    assert len(by_order) == 3000
    for order_lines in by_order.values():
        assert 1 <= len(order_lines) <= 6
        assert [line["line_id"] for line in order_lines] == [str(i) for i in range(1, len(order_lines) + 1)]
        assert len({(x["member_external_id"], x["occurred_at"], x["channel"], x["store"]) for x in order_lines}) == 1
    store_ids = {row["store_id"] for row in rows(stores)}
    assert {line["store"] for line in lines} - {""} <= store_ids
    assert len({row["external_id"] for row in rows(members)}) == 200
    assert len({row["phone"] for row in rows(members)}) == 200


def test_no_orders_is_a_file_with_its_header_only() -> None:
    _, members, orders = files(HistoryShape(members=3, orders=0, seed=1, start=START))
    assert orders == ",".join(imports.ORDER_COLUMNS) + "\n"
    assert len(members.splitlines()) == 4


@pytest.fixture(scope="module")
def medium() -> tuple[History, list[dict[str, str]], list[dict[str, str]]]:
    """A year of 60,000 orders by 3,000 members: large enough for the statistics to show, quick to make."""
    history = History(HistoryShape(members=3000, orders=60_000, seed=2024, start=START))
    members = rows("".join(history.member_chunks()))
    orders = rows("".join(day.text for day in history.order_chunks()))
    return history, members, orders


def _orders(lines: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One record per order: its first line's fields and its net amount."""
    result: dict[str, dict[str, Any]] = {}
    for line in lines:
        amount = Decimal(line["price"]) * int(line["quantity"]) - Decimal(line["discount"])
        if line["order_id"] in result:
            result[line["order_id"]]["amount"] += amount
        else:
            result[line["order_id"]] = {**line, "amount": amount, "at": datetime.fromisoformat(line["occurred_at"])}
    return list(result.values())


def test_a_fifth_of_the_customers_bring_most_of_the_revenue(medium: Any) -> None:
    _, _, lines = medium
    spend: Counter[str] = Counter()
    for order in _orders(lines):
        if order["member_external_id"]:
            spend[order["member_external_id"]] += order["amount"]
    ranked = sorted(spend.values(), reverse=True)
    top = ranked[: len(ranked) // 5]
    assert sum(top) / sum(ranked) > Decimal("0.5")


def test_seasonality_a_december_peak_a_summer_dip_and_busy_saturdays(medium: Any) -> None:
    _, _, lines = medium
    orders = _orders(lines)
    revenue: Counter[int] = Counter()
    weekdays: Counter[int] = Counter()
    for order in orders:
        revenue[order["at"].month] += order["amount"]
        weekdays[order["at"].weekday()] += 1
    assert len(revenue) == 12
    assert revenue[12] > sum(revenue.values()) / 12
    assert revenue[12] == max(revenue.values())
    assert revenue[7] < revenue[5]
    assert weekdays[5] > weekdays[0]


def test_non_members_share_and_channels(medium: Any) -> None:
    _, _, lines = medium
    orders = _orders(lines)
    non_members = [o for o in orders if not o["member_external_id"]]
    assert abs(len(non_members) / len(orders) - 0.3) < 0.01
    assert {o["channel"] for o in orders} == {"store", "online", "app"}
    assert {o["channel"] for o in non_members} == {"store", "online"}  # the app needs an account


def test_orders_come_in_time_order_each_after_its_members_registration(medium: Any) -> None:
    _, members, lines = medium
    registered = {m["external_id"]: datetime.fromisoformat(m["registered_at"]) for m in members}
    assert [m["registered_at"] for m in members] == sorted(m["registered_at"] for m in members)
    assert min(registered.values()) < datetime.fromisoformat("2024-01-01T00:00:00+00:00") < max(registered.values())
    times = [datetime.fromisoformat(line["occurred_at"]) for line in lines]
    assert times == sorted(times)
    assert [line["order_id"] for line in lines] == sorted(line["order_id"] for line in lines)
    for line in lines:
        if line["member_external_id"]:
            assert datetime.fromisoformat(line["occurred_at"]) > registered[line["member_external_id"]]


def test_churned_members_stop_buying(medium: Any) -> None:
    history, _, lines = medium
    churn_day = history.population.churn_day
    last: dict[int, int] = {}
    for line in lines:
        if line["member_external_id"]:
            member = int(line["member_external_id"][1:]) - 1
            day = (datetime.fromisoformat(line["occurred_at"]).date() - START).days
            assert day < churn_day[member]
            last[member] = max(last.get(member, 0), day)
    churned = [m for m in last if churn_day[m] < history.days - 60]
    # Many buyers churn during the year, and their orders stop: their last is before the year's last two months.
    assert len(churned) > len(last) / 10
    assert all(last[m] < history.days - 60 for m in churned)


def test_members_buy_mostly_in_their_home_city(medium: Any) -> None:
    history, _, lines = medium
    city = {store.store_id: store.city for store in history.stores}
    home = [history.stores[int(s)].city for s in history.population.favourite]
    store_orders = [o for o in _orders(lines) if o["member_external_id"] and o["channel"] == "store"]
    at_home = sum(city[o["store"]] == home[int(o["member_external_id"][1:]) - 1] for o in store_orders)
    assert at_home / len(store_orders) > 0.85
    assert len({o["store"] for o in store_orders}) == len(history.stores)


def test_the_cities_and_stores_registry() -> None:
    history = History(HistoryShape(members=1, orders=0, seed=1, start=START, stores=12, cities=4))
    stores = rows(history.store_text())
    assert len(stores) == 12
    per_city = Counter(s["city"] for s in stores)
    assert len(per_city) == 4 and min(per_city.values()) >= 1
    assert per_city["Moscow"] == max(per_city.values())
    assert len({s["store_id"] for s in stores}) == 12


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"members": 0}, "members"),
        ({"members": 10_000_001}, "members"),
        ({"orders": -1}, "orders"),
        ({"orders": 100_000_001}, "orders"),
        ({"seed": -1}, "seed"),
        ({"months": 0}, "months"),
        ({"utc_offset_hours": 15}, "utc_offset_hours"),
        ({"start": date(9999, 1, 1), "months": 120}, "start"),
        ({"non_member_share": 1.0}, "non_member_share"),
        ({"non_member_share": -0.1}, "non_member_share"),
        ({"stores": 0}, "stores"),
        ({"stores": 3, "cities": 4}, "cities"),
        ({"month_weights": (1.0,) * 11}, "month_weights"),
        ({"basket_weights": (0.0, 0.0)}, "basket_weights"),
        ({"channel_weights": (0.0, 0.0, 1.0)}, "channel_weights"),
        ({"discount_percents": (0,)}, "discount_percents"),
    ],
)
def test_a_shape_out_of_range_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    shape = HistoryShape(**{"members": 10, "orders": 10, "seed": 1, "start": START, **change})
    with pytest.raises(InvalidInput) as refused:
        History(shape)
    assert [p.path for p in refused.value.problems] == [field]


def test_the_period_ends_the_same_day_months_later_or_at_the_months_end() -> None:
    assert HistoryShape(1, 1, 1, date(2024, 1, 31), months=1).end == date(2024, 2, 29)
    assert HistoryShape(1, 1, 1, date(2024, 11, 15), months=3).end == date(2025, 2, 15)
    assert History(HistoryShape(1, 1, 1, date(2024, 1, 1), months=12)).days == 366


@settings(max_examples=40, deadline=None)
@given(
    members=st.integers(1, 40),
    orders=st.integers(0, 400),
    seed=st.integers(0, 2**63 - 1),
    start=st.dates(date(1970, 1, 1), date(2990, 1, 1)),
    months=st.integers(1, 3),
    non_member_share=st.floats(0, 0.99),
    cities=st.integers(1, 4),
    more_stores=st.integers(0, 4),
    offset=st.integers(-12, 14),
)
def test_any_history_keeps_its_invariants(
    members: int,
    orders: int,
    seed: int,
    start: date,
    months: int,
    non_member_share: float,
    cities: int,
    more_stores: int,
    offset: int,
) -> None:
    """Exactly `orders` orders, in time order, within the period; each member's after the registration and before
    the churn; exact money with discounts within the line."""
    shape = HistoryShape(
        members, orders, seed, start, months, non_member_share, cities + more_stores, cities, utc_offset_hours=offset
    )
    history = History(shape)
    _, member_text, order_text = files(shape)
    registered = {m["external_id"]: datetime.fromisoformat(m["registered_at"]) for m in rows(member_text)}
    lines = rows(order_text)
    assert len({line["order_id"] for line in lines}) == orders
    times = [datetime.fromisoformat(line["occurred_at"]) for line in lines]
    assert times == sorted(times)
    for line, at in zip(lines, times, strict=True):
        assert start <= at.date() < shape.end
        assert at.utcoffset() == timedelta(hours=offset)
        assert Decimal(0) <= Decimal(line["discount"]) <= Decimal(line["price"]) * int(line["quantity"])
        if line["member_external_id"]:
            assert at > registered[line["member_external_id"]]
            member = int(line["member_external_id"][1:]) - 1
            assert (at.date() - start).days < history.population.churn_day[member]


@given(st.integers(0, 10**9), st.lists(st.floats(0.01, 100), min_size=1, max_size=50))
def test_apportion_splits_the_total_exactly_and_fairly(total: int, weights: list[float]) -> None:
    parts = apportion(total, weights)
    assert sum(parts) == total
    assert all(abs(p - total * w / sum(weights)) < 1 + 1e-6 * total for p, w in zip(parts, weights, strict=True))


@given(st.integers(0, 10**12))
def test_money_writes_cents_with_two_decimals(cents: int) -> None:
    assert Decimal(money(cents)) * 100 == cents
    assert money(cents)[-3] == "."
