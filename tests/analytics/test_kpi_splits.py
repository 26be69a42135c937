"""The KPIs split by segment, tier, store and channel, each figure of each group checked against a computation
written here in plain Python over the raw rows of the same history (members, orders and their lines, ledger
entries, segment lists, tiers), following the README's definitions; on SQLite and PostgreSQL.

The history is seeded-random, built through the use cases: members registering over three months, orders of
members and non-members in two stores (and none) and two channels, some paid partly with points, returns,
cancellations, line discounts that leave amounts the quantity does not divide, expiry runs, operators' adjustments, a tier earned by spend, and three segments (a rule one
that nobody matches)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import pytest
from sqlalchemy import Engine, case, literal, select

from loyalty.analytics import service as analytics
from loyalty.analytics.dimensions import DIMENSIONS, OrderDimension
from loyalty.analytics.kpi import ORDER_DIMENSION_FIGURES
from loyalty.core.errors import InvalidInput, LoyaltyError
from loyalty.ledger import jobs
from loyalty.segments import service as segments
from loyalty.storage import tables as t
from loyalty.stores import service as stores
from tests.usecases import adjust, cancel, confirm, order, publish, read, register, return_lines, run, seed_program

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
TIERS = {
    "levels": [
        {"id": "silver", "name": "Silver", "from": "0"},
        {"id": "gold", "name": "Gold", "from": "12000"},
    ]
}
STORES = ("north", "south", None)
CHANNELS = ("web", "till")
POINT_VALUE = 100  # kopecks: a point is worth 1 RUB in the seed program


@pytest.fixture
def history(engine: Engine) -> Engine:
    publish(
        engine, seed_program(expiry={"after_days": 30}, tiers=TIERS), effective_from=datetime(2026, 8, 1, tzinfo=UTC)
    )
    rng = random.Random(13)
    first = datetime(2026, 8, 5, 10, tzinfo=UTC)
    events: list[tuple[datetime, str, int]] = [
        (first + timedelta(days=7 * i, hours=i), "register", i) for i in range(12)
    ]
    events += [(first + timedelta(days=15 + i, hours=rng.randrange(12)), "order", i) for i in range(80)]
    events += [(datetime(2026, m, d, 23, tzinfo=UTC), "expire", 0) for m, d in ((9, 20), (10, 12), (10, 30))]
    events.sort()
    members: list[int] = []
    sold: list[tuple[str, datetime, int]] = []  # (order, when, lines)
    for at, what, i in events:
        if what == "register":
            members.append(register(engine, f"+791200000{i:02d}", at=at))
        elif what == "expire":
            jobs.expire(engine, at, at)
        else:
            member = rng.choice([*members, None, None]) if members else None
            lines = [
                (f"sku{j}", str(rng.randrange(5, 60) * 100), rng.randrange(1, 4)) for j in range(rng.randrange(1, 3))
            ]
            body = order(
                f"o{i}",
                *lines,
                member=None if member is None else {"member_id": member},
                occurred_at=at,
                store=rng.choice(STORES),
                channel=rng.choice(CHANNELS),
            )
            if rng.random() < 0.5:  # a line discount: amounts that units do not divide, rounded down when returned
                body["lines"][0]["discount"] = "10.01"
            if member is not None and rng.random() < 0.3:
                try:
                    confirm(engine, {**body, "points": 100}, now=at + timedelta(minutes=1))
                except LoyaltyError:  # not enough available points: the same order without them
                    confirm(engine, body, now=at + timedelta(minutes=1))
            else:
                confirm(engine, body, now=at + timedelta(minutes=1))
            sold.append((f"o{i}", at, len(lines)))
    for key, at, _ in rng.sample(sold, 8):
        return_lines(engine, key, f"{key}-r", [("1", 1)], now=at + timedelta(days=rng.randrange(1, 20)))
    for key, at, _ in rng.sample(sold, 5):
        with contextlib.suppress(LoyaltyError):  # an order returned in part may refuse a cancel: history either way
            cancel(engine, key, now=at + timedelta(days=2))
    adjust(engine, members[1], 300, now=datetime(2026, 10, 9, tzinfo=UTC))
    adjust(engine, members[2], -50, now=datetime(2026, 10, 19, tzinfo=UTC))
    for segment_id, chosen in (("vip", members[::2]), ("north-fans", members[:5])):
        listed = [{"member_id": m} for m in chosen]
        run(
            engine,
            lambda uow, s=segment_id, ms=listed: segments.create(
                uow, {"segment_id": s, "name": s, "kind": "static", "members": ms}, NOW
            ),
        )
    nobody = {"segment_id": "empty", "name": "Nobody", "conditions": [{"purchase_count": {"min": 1000}}]}
    run(engine, lambda uow: segments.create(uow, nobody, NOW))
    return engine


# The independent computation: plain Python over the raw rows.


def rows(engine: Engine, table: t.Table) -> list[dict[str, Any]]:
    return read(engine, lambda uow: [dict(r._mapping) for r in uow.conn.execute(select(table))])


def ratio(numerator: int, denominator: int) -> str | None:
    if denominator == 0:
        return None
    with localcontext() as context:
        context.prec = 50
        return str((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))


def money(minor: int | None) -> str | None:
    return None if minor is None else f"{Decimal(minor).scaleb(-2):.2f}"


def mean(total: int, count: int) -> int | None:
    if count == 0:
        return None
    with localcontext() as context:
        context.prec = 50
        return int((Decimal(total) / Decimal(count)).quantize(Decimal(1), ROUND_HALF_EVEN))


class History:
    def __init__(self, engine: Engine) -> None:
        self.members = {m["member_id"]: m for m in rows(engine, t.members)}
        self.orders = {o["order_key"]: o for o in rows(engine, t.orders) if o["status"] in ("confirmed", "cancelled")}
        self.net = dict.fromkeys(self.orders, 0)
        self.kept = dict.fromkeys(self.orders, False)
        for line in rows(engine, t.order_lines):
            if line["order_key"] in self.orders:
                returned = line["amount"] * line["returned_quantity"] // line["quantity"]
                self.net[line["order_key"]] += line["amount"] - returned
                self.kept[line["order_key"]] |= line["returned_quantity"] < line["quantity"]
        self.entries = rows(engine, t.ledger_entries)
        held = {r["account_id"]: r["tier_id"] for r in rows(engine, t.member_tiers)}
        self.tier = {m: held.get(m, "silver") for m in self.members}
        self.segments: dict[str, set[int]] = {s["segment_id"]: set() for s in rows(engine, t.segments)}
        for r in rows(engine, t.segment_members):
            self.segments[r["segment_id"]].add(r["account_id"])

    def sold(self, keep: Callable[[dict[str, Any]], bool], start: datetime | None = START) -> list[str]:
        """The orders of [start, END) that count, by `keep`."""
        return [
            k
            for k, o in self.orders.items()
            if (start is None or o["occurred_at"] >= START) and o["occurred_at"] < END and keep(o)
        ]

    def order_figures(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        n, revenue = sum(self.kept[k] for k in keys), sum(self.net[k] for k in keys)
        return {"orders": n, "revenue": money(revenue), "average_check": money(mean(revenue, n))}

    def points(self, entries: list[dict[str, Any]], holders: set[int]) -> dict[str, Any]:
        now = [e for e in entries if START <= e["occurred_at"] < END]

        def total(kinds: tuple[str, ...], sign: int) -> int:
            return sum(e["points"] for e in now if e["kind"] in kinds and e["points"] * sign > 0)

        issued = total(("earn", "action", "adjust"), 1)
        redeemed = -total(("spend", "return_spent"), 1) - total(("spend", "return_spent"), -1)
        liability = sum(e["points"] for e in self.entries if e["account_id"] in holders and e["occurred_at"] < END)
        return {
            "points_issued": issued,
            "points_redeemed": redeemed,
            "points_expired": -total(("expire",), -1),
            "points_taken_back": -total(("return_earned", "adjust"), -1),
            "redemption_rate": ratio(redeemed, issued),
            "breakage": ratio(-total(("expire",), -1), issued),
            "liability_points": liability,
            "liability_money": money(liability * POINT_VALUE),
            "_redeemed_value": redeemed * POINT_VALUE,  # one version: every point at 1 RUB
        }

    def buyers(self, keys: list[str]) -> dict[int, int]:
        counted: dict[int, int] = {}
        for k in keys:
            member = self.orders[k]["account_id"]
            if member is not None:
                counted[member] = counted.get(member, 0) + self.kept[k]
        return {m: n for m, n in counted.items() if n >= 1}

    def lifetime(self, members: set[int]) -> int:
        return sum(self.net[k] for k in self.sold(lambda o: o["account_id"] in members, start=None))

    def active(self, members: set[int], start: datetime, end: datetime) -> set[int]:
        return {
            e["account_id"]
            for e in self.entries
            if e["account_id"] in members and e["kind"] in ("earn", "spend") and start <= e["occurred_at"] < end
        }

    def of_members(self, members: set[int]) -> dict[str, Any]:
        """Every figure of a member group, as the README defines it."""
        registered = {m for m in members if self.members[m]["registered_at"] < END}
        active = self.active(members, START, END)
        before = self.active(members, START - (END - START), START)
        keys = self.sold(lambda o: o["account_id"] in members)
        orders = self.order_figures(keys)
        revenue = sum(self.net[k] for k in keys)
        buyers = self.buyers(keys)
        points = self.points([e for e in self.entries if e["account_id"] in members], members)
        redeemed_value = points.pop("_redeemed_value")
        engagement = ratio(len(active), len(registered))
        return {
            "registered_members": len(registered),
            "active_members": len(active),
            "engagement": engagement,
            "engagement_good": None if engagement is None else Decimal(engagement) >= Decimal("0.7"),
            "churn": ratio(len(before - active), len(before)),
            **orders,
            "repeat_purchase_rate": ratio(sum(n >= 2 for n in buyers.values()), len(buyers)),
            "purchase_frequency": ratio(sum(buyers.values()), len(buyers)),
            "historical_ltv": money(mean(self.lifetime(members), len(registered))),
            **points,
            "program_cost_share": ratio(redeemed_value, revenue),
        }

    def of_orders(self, keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The figures of an order group: its orders, its members' orders, the points of entries about its orders,
        and the lifetime revenue and liability of its buyers."""
        keys = self.sold(keep)
        revenue = sum(self.net[k] for k in keys)
        buyers = self.buyers(keys)
        about = [e for e in self.entries if e["order_key"] in self.orders and keep(self.orders[e["order_key"]])]
        points = self.points(about, set(buyers))
        redeemed_value = points.pop("_redeemed_value")
        every = {
            **self.order_figures(keys),
            "repeat_purchase_rate": ratio(sum(n >= 2 for n in buyers.values()), len(buyers)),
            "purchase_frequency": ratio(sum(buyers.values()), len(buyers)),
            "historical_ltv": money(mean(self.lifetime(set(buyers)), len(buyers))),
            **points,
            "program_cost_share": ratio(redeemed_value, revenue),
        }
        return {
            "figures": {k: every[k] for k in ORDER_DIMENSION_FIGURES},
            "members": self.order_figures(k for k in keys if self.orders[k]["account_id"] is not None),
            "non_members": self.order_figures(k for k in keys if self.orders[k]["account_id"] is None),
        }


def split(engine: Engine, by: str, only: str | None = None) -> dict[str, Any]:
    report = read(engine, lambda uow: analytics.kpis(uow, START, END, by=by, only=only, now=NOW))
    assert report["by"] == by
    return {g["group"]: g for g in report["groups"]}


def test_the_history_has_something_to_split(history: Engine) -> None:
    facts = History(history)
    assert len(facts.sold(lambda _: True)) > 20
    assert {facts.tier[m] for m in facts.members} == {"silver", "gold"}
    assert any(e["kind"] == "expire" and START <= e["occurred_at"] < END for e in facts.entries)
    assert any(e["kind"] == "spend" and START <= e["occurred_at"] < END for e in facts.entries)
    assert any(e["kind"] == "return_earned" and START <= e["occurred_at"] < END for e in facts.entries)


def test_the_whole_program_is_the_group_of_every_member_plus_non_members(history: Engine) -> None:
    facts = History(history)
    report = read(history, lambda uow: analytics.kpis(uow, START, END))
    expected = facts.of_members(set(facts.members))
    every = facts.order_figures(facts.sold(lambda _: True))
    for name in ("orders", "revenue", "average_check"):
        expected[name] = every[name]
    revenue = sum(facts.net[k] for k in facts.sold(lambda _: True))
    redeemed = expected["points_redeemed"]
    expected["program_cost_share"] = ratio(redeemed * POINT_VALUE, revenue)
    # the whole program's points include entries of no member group (none here: every entry is a member's)
    assert report["overall"] == expected
    assert "by" not in report and "groups" not in report  # no split asked, none given


@pytest.mark.parametrize("by", ["segment", "tier"])
def test_each_member_group_has_every_figure_of_its_members(history: Engine, by: str) -> None:
    facts = History(history)
    groups = split(history, by)
    if by == "segment":
        expected_groups = facts.segments
    else:
        expected_groups = {tier: {m for m, held in facts.tier.items() if held == tier} for tier in ("silver", "gold")}
    assert list(groups) == sorted(expected_groups)  # the empty segment too
    for name, members in expected_groups.items():
        assert groups[name]["figures"] == facts.of_members(members), name
        assert "members" not in groups[name]
    assert groups.get("empty", {"figures": {"registered_members": 0}})["figures"]["registered_members"] == 0


@pytest.mark.parametrize(("by", "values"), [("store", STORES), ("channel", (*CHANNELS, None))])
def test_each_order_group_has_the_figures_of_its_orders_and_buyers(
    history: Engine, by: str, values: tuple[str | None, ...]
) -> None:
    facts = History(history)
    groups = split(history, by)
    present = {o[by] for k, o in facts.orders.items() if START <= o["occurred_at"] < END}
    assert set(groups) >= present
    for value in values:
        if value not in groups:
            assert value not in present
            continue
        assert groups[value] == {"group": value, **facts.of_orders(lambda o, v=value: o[by] == v)}, value


def test_a_filter_keeps_one_group(history: Engine) -> None:
    facts = History(history)
    assert list(split(history, "segment", only="vip")) == ["vip"]
    assert split(history, "segment", only="vip")["vip"]["figures"] == facts.of_members(facts.segments["vip"])
    north = split(history, "store", only="north")
    assert list(north) == ["north"]
    assert north["north"] == {"group": "north", **facts.of_orders(lambda o: o["store"] == "north")}
    assert split(history, "store", only="nowhere")["nowhere"]["figures"]["orders"] == 0


@pytest.mark.parametrize(
    ("by", "only", "field", "reason"),
    [
        ("colour", None, "by", "unknown dimension 'colour'; the KPIs split by segment, tier, store, channel, city"),
        ("segment", "gold-club", "segment", "unknown segment 'gold-club'"),
        ("tier", "bronze", "tier", "unknown tier 'bronze'; the known ones are: gold, silver"),
        ("store", "x" * 101, "store", "longer than 100 characters"),
    ],
)
def test_an_unknown_dimension_or_group_is_refused_naming_it(
    history: Engine, by: str, only: str | None, field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        read(history, lambda uow: analytics.kpis(uow, START, END, by=by, only=only, now=NOW))
    assert refused.value.problems[0].path == field
    assert reason in refused.value.problems[0].reason


def test_a_dimension_is_one_entry(history: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """An order dimension computed from the order's store, as a city from a stores table would be."""
    area = case((t.orders.c.store == "north", literal("north")), else_=literal("elsewhere"))
    entry = OrderDimension("area", "north or elsewhere", 20, lambda joined: (joined, area), known=lambda *_: AREAS)
    monkeypatch.setitem(DIMENSIONS, "area", entry)
    facts = History(history)
    groups = split(history, "area")
    assert list(groups) == ["elsewhere", "north"]
    assert groups["north"] == {"group": "north", **facts.of_orders(lambda o: o["store"] == "north")}
    assert groups["elsewhere"] == {"group": "elsewhere", **facts.of_orders(lambda o: o["store"] != "north")}
    with pytest.raises(InvalidInput) as refused:
        split(history, "area", only="south")
    assert refused.value.problems[0].path == "area"


AREAS = frozenset({"north", "elsewhere"})


def test_by_city_groups_orders_by_their_store_s_city(history: Engine) -> None:
    """The Chicken Club's split: the city of the store an order names, from the stores registry; an order of no store
    or of a store not registered is in the group None."""
    run(history, lambda uow: stores.put(uow, "north", "Moscow", "North", NOW))
    facts = History(history)
    groups = split(history, "city")
    assert set(groups) <= {"Moscow", None}
    assert groups["Moscow"] == {"group": "Moscow", **facts.of_orders(lambda o: o["store"] == "north")}
    assert groups[None] == {"group": None, **facts.of_orders(lambda o: o["store"] != "north")}
    assert list(split(history, "city", only="Moscow")) == ["Moscow"]
    with pytest.raises(InvalidInput) as refused:
        split(history, "city", only="Tver")
    assert refused.value.problems[0].path == "city"
    assert "unknown city 'Tver'; the known ones are: Moscow" in refused.value.problems[0].reason
