"""An experiment's report: the lift in orders per customer, spend per customer and average check between treatment
and control over its period, with Welch's and the bootstrap's intervals, the sample sizes, and the interval CUPED
narrows with the pre-period of the same length just before.

The figures are read by grouped SQL statements (per customer, store and period; per store and week), never by a
loop over orders. An order counts as the KPIs count it (analytics): confirmed (or confirmed then cancelled), its
net revenue what was not returned, and an order only if some unit of it was kept.

The units compared:
- A holdout: every member registered before the period's end (of the segment, when the holdout is drawn from one),
  in the control group when the seeded hash holds them out. Members who did not buy count, with 0: the groups are
  random, so the comparison is of like with like.
- A split by store or city: members attributed to the store (or city) where they placed most orders over the
  pre-period and the period together (a tie goes to the name first in order); those whose store is in neither list
  are left out, as are members who bought nothing in either period (they have no store). Their orders anywhere
  count. And, for every customer including non-members, store-weeks: each store's orders and revenue in each whole
  week of the period, its weekly mean in the pre-period as the CUPED covariate. The weeks of one store are alike,
  so with few stores those intervals are narrower than they should be: read them with the number of stores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from loyalty.experiments import service as experiments
from loyalty.experiments import stats
from loyalty.experiments.model import Experiment, Kind
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from loyalty.stores import service as stores

WEEK = timedelta(days=7)
RATIO_PLACES = 4
COUNT_PLACES = 4
_SOLD = ("confirmed", "cancelled")
NO_STORE = ""  # orders that name no store


@dataclass
class _Customer:
    orders: int = 0
    revenue: int = 0  # minor units
    pre_orders: int = 0
    pre_revenue: int = 0
    by_place: dict[str, int] = field(default_factory=dict)  # store or city: orders over both periods


def report(
    uow: UnitOfWork, experiment_id: str, *, confidence: float = 0.95, resamples: int = stats.BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
    """The report of one experiment, ready for JSON; NotFound for an unknown id."""
    experiment = experiments.get(uow, experiment_id)
    start, end = experiment.starts_at, experiment.ends_at
    pre_start = start - (end - start)
    currency, exponent = _money(uow, end)
    customers = _customers(uow, pre_start, start, end)
    if experiment.kind is Kind.HOLDOUT:
        treatment, control = _holdout_groups(uow, experiment, customers)
        unit = "member"
    else:
        treatment, control = _split_groups(uow, experiment, customers)
        unit = "member attributed to the store or city where they ordered most"
    seed = experiment.seed
    scale = 10.0**exponent
    money_places = exponent
    metrics = {
        "orders_per_customer": _metric(
            [c.orders for c in treatment],
            [c.orders for c in control],
            [c.pre_orders for c in treatment],
            [c.pre_orders for c in control],
            COUNT_PLACES,
            seed,
            confidence,
            resamples,
        ),
        "spend_per_customer": _metric(
            [c.revenue / scale for c in treatment],
            [c.revenue / scale for c in control],
            [c.pre_revenue / scale for c in treatment],
            [c.pre_revenue / scale for c in control],
            money_places,
            seed + 1,
            confidence,
            resamples,
        ),
        "average_check": _shown(
            stats.compare_ratio(
                _checks(treatment, scale),
                _checks(control, scale),
                seed=seed + 2,
                confidence=confidence,
                resamples=resamples,
            ),
            money_places,
            None,
        ),
    }
    result: dict[str, Any] = {
        "experiment": experiments.as_json(experiment),
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "pre_period": {"from": pre_start.isoformat(), "to": start.isoformat()},
        "currency": currency,
        "confidence": str(Decimal(repr(confidence))),
        "bootstrap_resamples": resamples,
        "unit": unit,
        "groups": {"treatment": _group(treatment, exponent), "control": _group(control, exponent)},
        "metrics": metrics,
        "store_weeks": None,
    }
    if experiment.kind is not Kind.HOLDOUT:
        result["store_weeks"] = _store_weeks(uow, experiment, pre_start, exponent, confidence, resamples)
    return result


def _money(uow: UnitOfWork, end: datetime) -> tuple[str | None, int]:
    try:
        program = programs.version_at(uow, end - timedelta(microseconds=1)).program
    except programs.NoProgram:
        first = uow.conn.execute(select(func.min(t.program_versions.c.number))).scalar_one()
        if first is None:
            return None, 2
        program = programs.version(uow, first).program
    return program.currency, program.exponent


def _nets(pre_start: datetime, end: datetime) -> Any:
    """One row per sold order of [pre_start, end): its account, store, instant, net revenue and whether any unit of
    it was kept (as the KPIs count them)."""
    o, lines = t.orders, t.order_lines
    kept = lines.c.amount - (lines.c.amount * lines.c.returned_quantity) // lines.c.quantity
    return (
        select(
            o.c.order_key,
            o.c.account_id,
            o.c.store,
            o.c.occurred_at,
            func.sum(kept).label("net"),
            func.max(case((lines.c.returned_quantity < lines.c.quantity, 1), else_=0)).label("bought"),
        )
        .select_from(o.join(lines, lines.c.order_key == o.c.order_key))
        .where(o.c.status.in_(_SOLD), o.c.occurred_at >= pre_start, o.c.occurred_at < end)
        .group_by(o.c.order_key, o.c.account_id, o.c.store, o.c.occurred_at)
        .subquery("nets")
    )


def _customers(uow: UnitOfWork, pre_start: datetime, start: datetime, end: datetime) -> dict[int, _Customer]:
    """Each member who ordered in the pre-period or the period: orders and revenue of each, and orders by store."""
    nets = _nets(pre_start, end)
    in_period = case((nets.c.occurred_at >= start, 1), else_=0).label("in_period")
    rows = uow.conn.execute(
        select(nets.c.account_id, nets.c.store, in_period, func.sum(nets.c.bought), func.sum(nets.c.net))
        .where(nets.c.account_id.is_not(None))
        .group_by(nets.c.account_id, nets.c.store, in_period)
    )
    customers: dict[int, _Customer] = defaultdict(_Customer)
    for account_id, store, now, orders, revenue in rows:
        customer = customers[int(account_id)]
        if now:
            customer.orders += int(orders or 0)
            customer.revenue += int(revenue or 0)
        else:
            customer.pre_orders += int(orders or 0)
            customer.pre_revenue += int(revenue or 0)
        place = store if store is not None else NO_STORE
        customer.by_place[place] = customer.by_place.get(place, 0) + int(orders or 0)
    return customers


def _holdout_groups(
    uow: UnitOfWork, experiment: Experiment, customers: Mapping[int, _Customer]
) -> tuple[list[_Customer], list[_Customer]]:
    query = select(t.members.c.member_id).where(t.members.c.registered_at < experiment.ends_at)
    if experiment.segment_id is not None:
        m = t.segment_members.c
        query = query.where(
            t.members.c.member_id.in_(select(m.account_id).where(m.segment_id == experiment.segment_id))
        )
    treatment: list[_Customer] = []
    control: list[_Customer] = []
    for (member_id,) in uow.conn.execute(query):
        customer = customers.get(int(member_id)) or _Customer()
        (control if experiment.holds_out(int(member_id)) else treatment).append(customer)
    return treatment, control


def _split_groups(
    uow: UnitOfWork, experiment: Experiment, customers: Mapping[int, _Customer]
) -> tuple[list[_Customer], list[_Customer]]:
    city_of = {s: city for city, ids in stores.cities(uow).items() for s in ids}
    treatment_places, control_places = set(experiment.treatment), set(experiment.control)
    treatment: list[_Customer] = []
    control: list[_Customer] = []
    for customer in customers.values():
        counts: dict[str, int] = defaultdict(int)
        for store, orders in customer.by_place.items():
            place = city_of.get(store, NO_STORE) if experiment.kind is Kind.CITIES else store
            counts[place] += orders
        if not counts or max(counts.values()) == 0:
            continue
        home = min(counts, key=lambda p: (-counts[p], p))  # most orders; a tie to the name first in order
        if home in treatment_places:
            treatment.append(customer)
        elif home in control_places:
            control.append(customer)
    return treatment, control


def _checks(group: Sequence[_Customer], scale: float) -> tuple[list[float], list[float]]:
    buyers = [c for c in group if c.orders]
    return [c.revenue / scale for c in buyers], [float(c.orders) for c in buyers]


def _group(group: Sequence[_Customer], exponent: int) -> dict[str, Any]:
    revenue = sum(c.revenue for c in group)
    return {
        "customers": len(group),
        "buyers": sum(1 for c in group if c.orders),
        "orders": sum(c.orders for c in group),
        "revenue": str(Decimal(revenue).scaleb(-exponent)),
        "pre_period_orders": sum(c.pre_orders for c in group),
    }


def _metric(
    treatment: Sequence[float],
    control: Sequence[float],
    pre_treatment: Sequence[float],
    pre_control: Sequence[float],
    places: int,
    seed: int,
    confidence: float,
    resamples: int,
) -> dict[str, Any]:
    """A per-unit mean compared, with its CUPED interval (the same metric in the pre-period as the covariate)."""
    compared = stats.compare(treatment, control, seed=seed, confidence=confidence, resamples=resamples)
    values = np.asarray([*treatment, *control], dtype=np.float64)
    covariate = np.asarray([*pre_treatment, *pre_control], dtype=np.float64)
    adjusted, reduction = stats.cuped(values, covariate)
    n = len(treatment)
    cuped = stats.welch(adjusted[:n], adjusted[n:], confidence)
    return _shown(compared, places, (cuped, reduction) if cuped is not None else None)


def _pair(interval: stats.Interval | None, places: int) -> list[str | None] | None:
    if interval is None:
        return None
    return [stats.figure(interval.low, places), stats.figure(interval.high, places)]


def _shown(compared: stats.Comparison, places: int, cuped: tuple[stats.Welch, float] | None) -> dict[str, Any]:
    """A comparison as decimal strings: means and differences to `places`, lifts and p-values to four."""
    welch = compared.welch
    shown: dict[str, Any] = {
        "treatment": {"units": compared.n_treatment, "mean": stats.figure(compared.mean_treatment, places)},
        "control": {"units": compared.n_control, "mean": stats.figure(compared.mean_control, places)},
        "difference": stats.figure(welch.difference, places) if welch else None,
        "lift": stats.figure(welch.lift, RATIO_PLACES) if welch else None,
        "welch": None,
        "bootstrap": None,
        "cuped": None,
        "verdict": compared.verdict,
    }
    if welch is not None:
        shown["welch"] = {
            "difference": _pair(welch.interval, places),
            "lift": _pair(welch.lift_interval, RATIO_PLACES),
            "p_value": stats.figure(welch.p_value, RATIO_PLACES),
        }
    if compared.bootstrap is not None:
        shown["bootstrap"] = {
            "difference": _pair(compared.bootstrap, places),
            "lift": _pair(compared.bootstrap_lift, RATIO_PLACES),
        }
    if cuped is not None:
        adjusted, reduction = cuped
        shown["cuped"] = {
            "difference": _pair(adjusted.interval, places),
            "lift": _pair(adjusted.lift_interval, RATIO_PLACES),
            "variance_reduction": stats.figure(reduction, RATIO_PLACES),
            "verdict": stats.SIGNIFICANT if adjusted.interval.excludes_zero() else stats.NOT_SIGNIFICANT,
        }
    return shown


def _store_weeks(
    uow: UnitOfWork, experiment: Experiment, pre_start: datetime, exponent: int, confidence: float, resamples: int
) -> dict[str, Any] | None:
    """Orders and revenue per store and whole week of the period, every customer's (members' and non-members'),
    treatment stores against control stores; each store's weekly mean in the pre-period is the CUPED covariate."""
    start, end = experiment.starts_at, experiment.ends_at
    weeks = (end - start) // WEEK
    if weeks < 1:
        return None
    if experiment.kind is Kind.CITIES:
        cities = stores.cities(uow)
        treatment = sorted({s for c in experiment.treatment for s in cities.get(c, ())})
        control = sorted({s for c in experiment.control for s in cities.get(c, ())})
    else:
        treatment, control = sorted(experiment.treatment), sorted(experiment.control)
    nets = _nets(pre_start, end)
    in_period = case((nets.c.occurred_at >= start, 1), else_=0).label("in_period")
    week = case(
        (nets.c.occurred_at >= start, _whole_weeks(uow, nets.c.occurred_at, start)),
        else_=_whole_weeks(uow, nets.c.occurred_at, pre_start),
    ).label("week")
    rows = uow.conn.execute(
        select(nets.c.store, in_period, week, func.sum(nets.c.bought), func.sum(nets.c.net))
        .where(nets.c.store.in_([*treatment, *control]))
        .group_by(nets.c.store, in_period, week)
    )
    cells: dict[tuple[str, int, int], tuple[int, int]] = {}
    for store, now, index, orders, revenue in rows:
        if index is not None and 0 <= int(index) < weeks:
            cells[(store, int(now), int(index))] = (int(orders or 0), int(revenue or 0))
    scale = 10.0**exponent

    def grid(ids: list[str], what: int) -> tuple[list[float], list[float]]:
        during, before = [], []
        for store in ids:
            pre_mean = sum(cells.get((store, 0, w), (0, 0))[what] for w in range(weeks)) / weeks
            for w in range(weeks):
                during.append(cells.get((store, 1, w), (0, 0))[what] / (scale if what else 1))
                before.append(pre_mean / (scale if what else 1))
        return during, before

    shown: dict[str, Any] = {
        "weeks": weeks,
        "treatment_stores": len(treatment),
        "control_stores": len(control),
    }
    for name, what, places in (("orders_per_store_week", 0, COUNT_PLACES), ("revenue_per_store_week", 1, exponent)):
        (t_now, t_pre), (c_now, c_pre) = grid(treatment, what), grid(control, what)
        shown[name] = _metric(t_now, c_now, t_pre, c_pre, places, experiment.seed + 3 + what, confidence, resamples)
    return shown


def _whole_weeks(uow: UnitOfWork, column: Any, since: datetime) -> ColumnElement[Any]:
    """Whole weeks from `since` to `column`, in SQL: seconds since the epoch on either database, divided."""
    if uow.conn.dialect.name == "postgresql":
        seconds: ColumnElement[Any] = func.extract("epoch", column)
        return cast(func.floor((seconds - since.timestamp()) / WEEK.total_seconds()), Integer)
    seconds = cast(func.strftime("%s", column), Integer)
    return cast((seconds - int(since.timestamp())) / int(WEEK.total_seconds()), Integer)
