"""A synthetic purchase history made up from a seed: stores, members and orders in the files the imports read.

Pure: no database, no clock, no files. `History.store_text`, `member_chunks` and `order_chunks` yield the text of
`stores.csv`, `members.csv` and `orders.csv`; the orders come a day at a time, in time order, so ten million of
them are written with memory that holds one day's orders (and a few numbers per member, about 30 bytes each).
The same shape, seed included, gives the same text byte for byte: every draw comes from numpy Generators seeded
from the seed, one stream per part (catalogue, members, members' details, orders), so a part's draws never shift
another's.

What makes it look real, each a field of `HistoryShape` with its default:
- seasonality: a day's share of the orders is its month's weight (a December peak, a summer dip) times its
  weekday's (a busy weekend), apportioned exactly, so the file has exactly `orders` orders; an hour-of-day profile
  (days and hours in local time, `utc_offset_hours`, Moscow's by default);
- customers who differ: each member's propensity to buy is Pareto-distributed (`propensity_alpha`, capped), so a
  fifth of the customers bring most of the revenue; prices are lognormal around each category's median, baskets
  hold 1 to 6 lines of Zipf-popular SKUs;
- churn: each member buys from registration (or from the start, if registered before it) for an exponentially
  distributed lifetime (`mean_lifetime_days`), then never again;
- registrations: a share of the members registered before the period (spread over `registered_before_days`), the
  rest during it; a member's orders always come after the registration;
- geography: cities of Zipf-like sizes, each with at least one store; a member lives in the city of a favourite
  store, where most of the member's store orders happen;
- channels store, online and app (online and app orders name no store); a share of orders by non-members (no
  member_external_id; they buy in stores or online, not in the app);
- occasional line discounts of a few percent, rounded down to the cent.

Money is counted in cents (ints) and written with two decimals. When no member can buy on a day (none registered
yet, or all churned) its member orders go to non-members."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache, cached_property
from itertools import pairwise
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.file_formats import MEMBER_COLUMNS, ORDER_COLUMNS, STORE_COLUMNS

MAX_MEMBERS = 10_000_000
MAX_ORDERS = 100_000_000
MAX_MONTHS = 120
MAX_STORES = 10_000
MAX_SKUS = 1_000_000

CHANNELS = ("store", "online", "app")
CITY_NAMES = (
    "Moscow",
    "Saint Petersburg",
    "Novosibirsk",
    "Yekaterinburg",
    "Kazan",
    "Nizhny Novgorod",
    "Chelyabinsk",
    "Samara",
    "Omsk",
    "Rostov-on-Don",
    "Ufa",
    "Krasnoyarsk",
    "Voronezh",
    "Perm",
    "Volgograd",
    "Krasnodar",
)
# (category, median unit price in major units, share of the catalogue's SKUs)
CATEGORIES = (
    ("groceries", 120, 0.30),
    ("dairy", 90, 0.10),
    ("bakery", 60, 0.08),
    ("drinks", 150, 0.10),
    ("household", 300, 0.10),
    ("cosmetics", 600, 0.08),
    ("books", 700, 0.05),
    ("garden", 900, 0.02),
    ("toys", 1200, 0.05),
    ("clothes", 2500, 0.07),
    ("shoes", 4500, 0.03),
    ("electronics", 8000, 0.02),
)
FIRST_NAMES = {
    "female": ("Anna", "Maria", "Elena", "Olga", "Natalia", "Irina", "Svetlana", "Daria", "Ekaterina", "Polina"),
    "male": ("Ivan", "Alexei", "Dmitry", "Sergei", "Andrei", "Mikhail", "Pavel", "Nikolai", "Artem", "Maxim"),
}
LAST_NAMES = ("Ivanov", "Smirnov", "Kuznetsov", "Popov", "Vasiliev", "Petrov", "Sokolov", "Mikhailov", "Novikov")
DAY = 86_400

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Small = NDArray[np.int32]  # a member's numbers that fit, to keep ten million members in little memory


@dataclass(frozen=True)
class HistoryShape:
    """What to make up. Weights are relative (they need not sum to 1); shares are probabilities."""

    members: int
    orders: int
    seed: int
    start: date
    months: int = 12
    non_member_share: float = 0.3
    stores: int = 20
    cities: int = 5
    # January..December: a December peak, a summer dip.
    month_weights: tuple[float, ...] = (0.85, 0.8, 0.95, 0.95, 1.0, 0.8, 0.75, 0.8, 1.0, 1.05, 1.15, 1.6)
    # Monday..Sunday.
    weekday_weights: tuple[float, ...] = (0.9, 0.9, 0.95, 1.0, 1.15, 1.3, 1.05)
    # 00..23 local time: shops open from 8 to 22, a lunch and an evening peak, a few night orders online.
    hour_weights: tuple[float, ...] = (
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.4,
        0.8,
        2,
        3,
        4,
        5,
        6,
        6,
        5,
        5,
        5,
        6,
        7,
        7,
        6,
        4,
        2,
        0.8,
    )
    propensity_alpha: float = 1.2  # the Pareto tail of members' propensity to buy; 1.16 is the 80/20 rule
    propensity_cap: float = 200.0  # the most a member buys relative to the least eager, so no one member dominates
    mean_lifetime_days: float = 540.0  # how long a member keeps buying, on average (exponential)
    registered_before_share: float = 0.5  # members registered before the period...
    registered_before_days: int = 730  # ...spread over this many days before it; the others during it
    favourite_store_share: float = 0.65  # of a member's store orders: at the favourite store
    home_city_share: float = 0.9  # of a member's store orders: in the home city (the favourite store included)
    channel_weights: tuple[float, ...] = (0.75, 0.15, 0.10)  # store, online, app
    basket_weights: tuple[float, ...] = (0.35, 0.25, 0.17, 0.11, 0.07, 0.05)  # 1..6 lines
    quantity_weights: tuple[float, ...] = (0.8, 0.15, 0.05)  # 1..3 units of a line
    skus: int = 2000
    discount_share: float = 0.08  # of lines
    discount_percents: tuple[int, ...] = (5, 10, 15, 20, 30)
    # Local time, where days, weekdays and hours are counted; instants are written with this offset (Moscow's).
    utc_offset_hours: int = 3

    @property
    def zone(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))

    @property
    def end(self) -> date:
        """The first day after the period: `months` after the start (the same day of the month, or its last)."""
        year, month = divmod(self.start.month - 1 + self.months, 12)
        year += self.start.year
        return date(year, month + 1, min(self.start.day, calendar.monthrange(year, month + 1)[1]))

    def check(self) -> None:
        """InvalidInput naming every field out of range (fields by their names here)."""
        problems = [FieldProblem(name, reason) for name, reason in self._problems()]
        if problems:
            raise InvalidInput(problems)

    def _problems(self) -> Iterator[tuple[str, str]]:
        for name, low, high in (
            ("members", 1, MAX_MEMBERS),
            ("orders", 0, MAX_ORDERS),
            ("seed", 0, 2**63 - 1),
            ("months", 1, MAX_MONTHS),
            ("stores", 1, MAX_STORES),
            ("cities", 1, MAX_STORES),
            ("skus", 1, MAX_SKUS),
            ("registered_before_days", 1, 36_500),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                yield name, f"must be between {low:,} and {high:,}, got {value:,}"
        if not date(1970, 1, 1) <= self.start <= date(2999, 12, 31):
            yield "start", f"must be between 1970-01-01 and 2999-12-31, got {self.start}"
        if 1 <= self.stores <= MAX_STORES and self.cities > self.stores:
            yield "cities", f"must be at most the number of stores ({self.stores}): every city has a store"
        if not -12 <= self.utc_offset_hours <= 14:
            yield "utc_offset_hours", f"must be between -12 and 14, got {self.utc_offset_hours}"
        if not 0 <= self.non_member_share < 1:
            yield "non_member_share", f"must be at least 0 and less than 1, got {self.non_member_share}"
        for name in ("registered_before_share", "favourite_store_share", "home_city_share", "discount_share"):
            if not 0 <= getattr(self, name) <= 1:
                yield name, f"must be between 0 and 1, got {getattr(self, name)}"
        if self.favourite_store_share > self.home_city_share:
            yield "favourite_store_share", "must be at most home_city_share (the favourite store is in the home city)"
        if not self.propensity_alpha > 0 or not self.propensity_cap >= 1 or not self.mean_lifetime_days > 0:
            yield "propensity", "propensity_alpha and mean_lifetime_days must be positive, propensity_cap at least 1"
        for name, size in (
            ("month_weights", 12),
            ("weekday_weights", 7),
            ("hour_weights", 24),
            ("channel_weights", 3),
            ("basket_weights", None),
            ("quantity_weights", None),
        ):
            weights = getattr(self, name)
            if (size is not None and len(weights) != size) or not weights or min(weights) < 0 or sum(weights) <= 0:
                yield name, f"must be {size or 'some'} weights, none negative, not all zero"
        if len(self.channel_weights) == 3 and sum(self.channel_weights[:2]) <= 0:
            yield "channel_weights", "store and online must not both be zero: non-members buy there"
        if not self.discount_percents or not all(0 < p < 100 for p in self.discount_percents):
            yield "discount_percents", "must be percentages between 0 and 100"


class Store(NamedTuple):
    store_id: str
    city: str
    name: str


class Catalogue(NamedTuple):
    skus: list[str]  # "sku,category," as the line writes it
    prices: Ints  # unit price in cents
    price_texts: list[str]  # "149.99,"
    popularity: Floats  # running sum of the SKUs' weights


class Population(NamedTuple):
    """The members, in order of registration (member i is external id M<i+1>): each array has one item a member."""

    registered: Ints  # seconds from the start's midnight (local time), ascending; negative before the period
    churn_day: Small  # the first day (from the start) on which the member buys no more
    favourite: Small  # the favourite store's index; the home city is its city
    propensity: Floats  # running sum of the members' propensities, for drawing the day's buyers


class Day(NamedTuple):
    text: str
    orders: int
    lines: int


def midnight_offset(zone: timezone) -> str:
    """The offset as ISO writes it: '+03:00'."""
    return datetime.combine(date(2000, 1, 1), datetime.min.time(), zone).isoformat()[-6:]


@cache
def _clock(offset: str) -> list[str]:
    """The time of each second of a day as an instant ends: 'T13:05:09+03:00,'."""
    return [f"T{h:02d}:{m:02d}:{s:02d}{offset}," for h in range(24) for m in range(60) for s in range(60)]


def money(cents: int) -> str:
    """Cents as a decimal string with two places: 12345 → '123.45'."""
    return f"{cents // 100}.{cents % 100:02d}"


def _cumulative(weights: tuple[float, ...] | list[float] | Floats) -> Floats:
    return np.cumsum(np.asarray(weights, dtype=np.float64))


def _draw(rng: np.random.Generator, cumulative: Floats, n: int) -> Ints:
    """n indexes drawn with the weights whose running sum is `cumulative`."""
    found = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
    drawn: Ints = np.minimum(found, len(cumulative) - 1).astype(np.int64)
    return drawn


def apportion(total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to `weights` into whole parts that sum to it exactly, each within 1 of its exact
    share: the differences of the rounded running totals (the last running total is `total` itself)."""
    running, whole, bounds = 0.0, sum(weights), [0]
    for weight in weights[:-1]:
        running += weight
        bounds.append(min(total, int(total * running / whole + 0.5)))
    bounds.append(total)
    return [b - a for a, b in pairwise(bounds)]


class History:
    """A history of `shape` (checked first). Iterating its chunks twice gives the same text twice."""

    def __init__(self, shape: HistoryShape) -> None:
        shape.check()
        self.shape = shape
        self.days = (shape.end - shape.start).days
        seeds = np.random.SeedSequence(shape.seed).spawn(4)
        self._seeds = {"catalogue": seeds[0], "members": seeds[1], "details": seeds[2], "orders": seeds[3]}
        city_weights = [1 / (k + 1) for k in range(shape.cities)]
        per_city = [1 + extra for extra in apportion(shape.stores - shape.cities, city_weights)]
        self.city_names = [CITY_NAMES[k] if k < len(CITY_NAMES) else f"City {k + 1}" for k in range(shape.cities)]
        self.stores: list[Store] = []
        for city, count in enumerate(per_city):
            for k in range(count):
                store_id = f"S{len(self.stores) + 1:0{len(str(shape.stores))}d}"
                self.stores.append(Store(store_id, self.city_names[city], f"{self.city_names[city]} {k + 1}"))
        self.city_first = np.cumsum([0, *per_city[:-1]]).astype(np.int64)  # stores are grouped by city
        self.city_stores = np.asarray(per_city, dtype=np.int64)
        self.store_city = np.repeat(np.arange(shape.cities), per_city)
        self.city_weights = _cumulative(city_weights)

    def store_text(self) -> str:
        return ",".join(STORE_COLUMNS) + "\n" + "".join(f"{s.store_id},{s.city},{s.name}\n" for s in self.stores)

    @cached_property
    def catalogue(self) -> Catalogue:
        rng = np.random.default_rng(self._seeds["catalogue"])
        n = self.shape.skus
        category = _draw(rng, _cumulative([share for _, _, share in CATEGORIES]), n)
        medians = np.asarray([median for _, median, _ in CATEGORIES], dtype=np.float64)[category]
        units = np.maximum(1, np.rint(rng.lognormal(np.log(medians), 0.6))).astype(np.int64)
        prices = units * 100 - 1  # prices end in .99
        # Zipf-popular SKUs, cheap ones bought more often.
        rank = rng.permutation(n) + 1
        weights = rank.astype(np.float64) ** -0.9 / np.sqrt(medians / 100)
        width = len(str(n))
        return Catalogue(
            [f"sku-{i + 1:0{width}d},{CATEGORIES[c][0]}," for i, c in enumerate(category.tolist())],
            prices,
            [money(p) + "," for p in prices.tolist()],
            np.cumsum(weights),
        )

    @cached_property
    def population(self) -> Population:
        shape, rng = self.shape, np.random.default_rng(self._seeds["members"])
        n = shape.members
        before = rng.random(n) < shape.registered_before_share
        day = np.where(
            before,
            -rng.integers(1, shape.registered_before_days + 1, n),
            rng.integers(0, self.days, n),
        )
        # Within the day, early enough that an order a minute later is still that day.
        registered = np.sort(day * DAY + rng.integers(0, DAY - 60, n))
        lifetime = np.ceil(np.minimum(rng.exponential(shape.mean_lifetime_days, n), 100_000)).astype(np.int64)
        churn_day = (np.maximum(registered // DAY, 0) + np.maximum(lifetime, 1)).astype(np.int32)
        city = _draw(rng, self.city_weights, n)
        favourite = (self.city_first[city] + (rng.random(n) * self.city_stores[city])).astype(np.int32)
        propensity = np.minimum(rng.pareto(shape.propensity_alpha, n) + 1, shape.propensity_cap)
        return Population(registered, churn_day, favourite, np.cumsum(propensity))

    def external_id(self, member: int) -> str:
        return f"M{member + 1:0{len(str(self.shape.members))}d}"

    def member_chunks(self, size: int = 100_000) -> Iterator[str]:
        """members.csv: the members in order of registration."""
        yield ",".join(MEMBER_COLUMNS) + "\n"
        shape, registered = self.shape, self.population.registered
        rng = np.random.default_rng(self._seeds["details"])
        offset = midnight_offset(shape.zone)
        # numpy writes the local wall-clock times and dates, a chunk at a time.
        midnight, today = np.datetime64(shape.start.isoformat(), "s"), np.datetime64(shape.start.isoformat(), "D")
        genders = ("male", "female")
        names = [
            [f"{first} {last}{'a' if g == 'female' else ''}" for first in FIRST_NAMES[g] for last in LAST_NAMES]
            for g in genders
        ]
        yes_no = ("false", "true")
        for first in range(0, shape.members, size):
            n = min(size, shape.members - first)
            female = (rng.random(n) < 0.55).astype(np.int64).tolist()
            name = rng.integers(0, len(names[0]), n).tolist()
            born = np.datetime_as_string(today - rng.integers(18 * 365, 75 * 365, n).astype("timedelta64[D]"))
            at = np.datetime_as_string(midnight + registered[first : first + n].astype("timedelta64[s]"), unit="s")
            consents = (rng.random((n, 2)) < (0.6, 0.4)).astype(np.int64).tolist()
            rows = []
            for i, (f, b, a, (email, sms)) in enumerate(zip(female, born.tolist(), at.tolist(), consents, strict=True)):
                ext = self.external_id(first + i)
                rows.append(
                    f"{ext},{names[f][name[i]]},+7900{first + i:07d},{ext.lower()}@example.com,,{genders[f]},{b},"
                    f"{a}{offset},true,{yes_no[email]},{yes_no[sms]}\n"
                )
            yield "".join(rows)

    def day_counts(self) -> list[int]:
        """How many orders each day of the period gets: its month's weight × its weekday's, apportioned."""
        shape = self.shape
        weights = []
        for d in range(self.days):
            day = shape.start + timedelta(days=d)
            weights.append(shape.month_weights[day.month - 1] * shape.weekday_weights[day.weekday()])
        return apportion(shape.orders, weights)

    def order_chunks(self) -> Iterator[Day]:
        """orders.csv, a day at a time: the header, then each day's orders in time order, one row per line."""
        yield Day(",".join(ORDER_COLUMNS) + "\n", 0, 0)
        rng = np.random.default_rng(self._seeds["orders"])
        times = _clock(midnight_offset(self.shape.zone))
        number = 0
        for d, count in enumerate(self.day_counts()):
            if count:
                day = _OrdersOfDay(self, rng, d, count)
                text, lines = day.text(number, (self.shape.start + timedelta(days=d)).isoformat(), times)
                number += count
                yield Day(text, count, lines)


class _OrdersOfDay:
    """One day's orders, drawn in one go with numpy and written row by row."""

    def __init__(self, history: History, rng: np.random.Generator, d: int, n: int) -> None:
        self.history, self.rng, shape = history, rng, history.shape
        buyer = np.full(n, -1, dtype=np.int64)
        wanted = np.flatnonzero(rng.random(n) >= shape.non_member_share)
        buyer[wanted] = self._members(d, len(wanted))
        member = buyer >= 0
        hour = _draw(rng, _cumulative(shape.hour_weights), n)
        second = hour * 3600 + rng.integers(0, 3600, n)
        # A member who registered today buys after registering.
        registered = np.where(member, history.population.registered[np.maximum(buyer, 0)] - d * DAY, -DAY)
        second = np.where(registered >= 0, np.maximum(second, registered + 60), second)
        channel = np.where(
            member,
            _draw(rng, _cumulative(shape.channel_weights), n),
            _draw(rng, _cumulative(shape.channel_weights[:2]), n),
        )
        store = np.where(channel == 0, self._stores(buyer), -1)
        order = np.argsort(second, kind="stable")
        self.buyer, self.second, self.channel, self.store = buyer[order], second[order], channel[order], store[order]

    def _members(self, d: int, n: int) -> Ints:
        """n buyers among the members registered by the end of day d and not churned, drawn by propensity; -1 (a
        non-member) where none could be found."""
        population = self.history.population
        registered = int(np.searchsorted(population.registered, (d + 1) * DAY, side="left"))
        buyer = np.full(n, -1, dtype=np.int64)
        if registered == 0:
            return buyer
        cumulative = population.propensity[:registered]
        todo = np.arange(n)
        for _ in range(64):  # a churned member drawn is drawn again
            drawn = _draw(self.rng, cumulative, len(todo))
            alive = population.churn_day[drawn] > d
            buyer[todo[alive]] = drawn[alive]
            todo = todo[~alive]
            if not len(todo):
                break
        return buyer

    def _stores(self, buyer: Ints) -> Ints:
        """A store for each order: mostly the member's favourite, else another in the home city, else anywhere;
        a non-member's anywhere (a city by its size, then one of its stores)."""
        h, shape, n = self.history, self.history.shape, len(buyer)
        favourite = h.population.favourite[np.maximum(buyer, 0)]
        home = h.store_city[favourite]
        anywhere = _draw(self.rng, h.city_weights, n)
        u = self.rng.random(n)
        city = np.where((buyer >= 0) & (u < shape.home_city_share), home, anywhere)
        store = h.city_first[city] + (self.rng.random(n) * h.city_stores[city]).astype(np.int64)
        return np.where((buyer >= 0) & (u < shape.favourite_store_share), favourite, store)

    def text(self, first_number: int, day: str, times: list[str]) -> tuple[str, int]:
        """The rows of the day's orders, numbered from `first_number`; and how many rows."""
        h, shape, rng, n = self.history, self.history.shape, self.rng, len(self.buyer)
        catalogue = h.catalogue
        size = _draw(rng, _cumulative(shape.basket_weights), n) + 1
        lines = int(size.sum())
        owner = np.repeat(np.arange(n), size)
        line_no = np.arange(lines) - np.repeat(np.cumsum(size) - size, size) + 1
        sku = _draw(rng, catalogue.popularity, lines)
        quantity = _draw(rng, _cumulative(shape.quantity_weights), lines) + 1
        percent = np.asarray(shape.discount_percents, dtype=np.int64)[
            rng.integers(0, len(shape.discount_percents), lines)
        ]
        discounted = rng.random(lines) < shape.discount_share
        discount = np.where(discounted, quantity * catalogue.prices[sku] * percent // 100, 0)

        width = len(str(shape.orders))
        heads = [
            f"O{first_number + i + 1:0{width}d},{h.external_id(b) if b >= 0 else ''},{day}{times[s]}"
            for i, (b, s) in enumerate(zip(self.buyer.tolist(), self.second.tolist(), strict=True))
        ]
        store_ids = [s.store_id for s in h.stores]
        tails = [
            f"0,{CHANNELS[c]},{store_ids[s] if s >= 0 else ''}\n"
            for c, s in zip(self.channel.tolist(), self.store.tolist(), strict=True)
        ]
        skus, prices = catalogue.skus, catalogue.price_texts
        rows = [
            f"{heads[o]}{k},{skus[s]}{q},{prices[s]}{money(c) if c else '0.00'},{tails[o]}"
            for o, k, s, q, c in zip(
                owner.tolist(), line_no.tolist(), sku.tolist(), quantity.tolist(), discount.tolist(), strict=True
            )
        ]
        return "".join(rows), lines
