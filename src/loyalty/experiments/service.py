"""Experiments: create them (checked against the segments and the stores registry), read them, and tell the checkout
whether an order falls in a control group, and what gives points or a tier without an order (action bonuses, the
birthday gift, referrals, win-back, the tier job) whether a member is held out of the program (`program_holdout`,
`program_holdouts`).

The checkout asks `holdout` on every quote. The experiments are read once per process and kept while their stamp
(storage.stamps) stays the same, as the campaigns are; the stamp is read along with the member's account, so with
no experiment in force the answer costs no read at all, and a holdout drawn from a segment costs one indexed read
of that segment's membership. The other use cases read the stamp with the account they lock (ledger.repository),
so they too pay nothing while no experiment exists. Creating an experiment, or changing a store, writes a new stamp.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import select

from loyalty.core import limits
from loyalty.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from loyalty.core.instants import Zone, parse_instant
from loyalty.experiments.model import MAX_SHARE, Experiment, Holdout, Kind, Withholds, default_seed, explanation
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork
from loyalty.stores import service as stores

E = TypeVar("E", Kind, Withholds)
MAX_SEED = 2**53  # JSON numbers stay exact up to here
_FIELDS = {"experiment_id", "name", "kind", "withholds", "starts_at", "ends_at", "share", "segment", "treatment"}
_FIELDS |= {"control", "seed"}


def create(uow: UnitOfWork, data: Mapping[str, Any], now: datetime, zone: Zone) -> dict[str, Any]:
    """Record a new experiment. InvalidInput naming every bad field (a share outside (0, 50%], an unknown segment,
    store or city, a period that ends before it starts), changing nothing; Conflict when the id is taken."""
    experiment = _checked(uow, data, zone)
    taken = uow.conn.execute(
        select(t.experiments.c.experiment_id).where(t.experiments.c.experiment_id == experiment.experiment_id)
    ).first()
    if taken is not None:
        raise Conflict(f"experiment {experiment.experiment_id} exists; an experiment is not changed once it is set")
    uow.conn.execute(
        t.experiments.insert().values(
            experiment_id=experiment.experiment_id,
            name=experiment.name,
            kind=experiment.kind.value,
            withholds=experiment.withholds.value,
            starts_at=experiment.starts_at,
            ends_at=experiment.ends_at,
            seed=experiment.seed,
            share=experiment.share,
            segment_id=experiment.segment_id,
            treatment=list(experiment.treatment),
            control=list(experiment.control),
            created_at=now,
        )
    )
    stamps.renew(uow, stamps.EXPERIMENTS)
    return as_json(experiment)


def _checked(uow: UnitOfWork, data: Mapping[str, Any], zone: Zone) -> Experiment:
    problems: list[FieldProblem] = [
        FieldProblem(k, "is not a field of an experiment") for k in data if k not in _FIELDS
    ]
    experiment_id = data.get("experiment_id")
    if not isinstance(experiment_id, str) or not re.match(limits.id_pattern(limits.EXPERIMENT_ID), experiment_id):
        problems.append(FieldProblem("experiment_id", "must be lower-case letters, digits, '_', '-' or '.'"))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > limits.NAME:
        problems.append(FieldProblem("name", f"is required: 1 to {limits.NAME} characters"))
    kind = _enum(Kind, data.get("kind"), "kind", problems)
    withholds = _enum(Withholds, data.get("withholds", "program"), "withholds", problems)
    starts_at = ends_at = None
    for field in ("starts_at", "ends_at"):
        try:
            when = parse_instant(data.get(field), field, zone=zone, day="start")
        except InvalidInput as error:
            problems.extend(error.problems)
            continue
        starts_at, ends_at = (when, ends_at) if field == "starts_at" else (starts_at, when)
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        problems.append(FieldProblem("ends_at", f"must be after starts_at ({starts_at.isoformat()})"))
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < MAX_SEED):
        problems.append(FieldProblem("seed", f"must be a whole number from 0 to {MAX_SEED - 1}"))
        seed = None
    share = segment = None
    treatment: tuple[str, ...] = ()
    control: tuple[str, ...] = ()
    if kind is Kind.HOLDOUT:
        share = _share(data.get("share"), problems)
        segment = _segment(uow, data.get("segment"), problems)
        problems.extend(
            FieldProblem(f, "a holdout has no treatment and control lists: its members are drawn by `share`")
            for f in ("treatment", "control")
            if data.get(f)
        )
    elif kind is not None:
        problems.extend(
            FieldProblem(f, f"only a holdout has a {f}; a split by {kind.value} lists its treatment and control")
            for f in ("share", "segment")
            if data.get(f) is not None
        )
        treatment, control = _groups(uow, kind, data, problems)
    if problems:
        raise InvalidInput(problems)
    assert isinstance(experiment_id, str) and isinstance(name, str)
    assert kind is not None and withholds is not None and starts_at is not None and ends_at is not None
    return Experiment(
        experiment_id,
        name.strip(),
        kind,
        withholds,
        starts_at,
        ends_at,
        seed if seed is not None else default_seed(experiment_id),
        share,
        segment,
        treatment,
        control,
    )


def _enum(enum: type[E], value: object, field: str, problems: list[FieldProblem]) -> E | None:
    try:
        return enum(value if isinstance(value, str) else "")
    except ValueError:
        problems.append(FieldProblem(field, f"must be one of {', '.join(e.value for e in enum)}"))
        return None


def _share(value: object, problems: list[FieldProblem]) -> Decimal | None:
    reason = f"must be a share above 0 and at most {MAX_SHARE} (50%), with at most 4 decimal places, e.g. 0.1"
    try:
        share = Decimal(str(value)) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    except InvalidOperation:
        share = None
    if share is None or not share.is_finite() or not 0 < share <= MAX_SHARE or share != share.quantize(Decimal("1e-4")):
        problems.append(FieldProblem("share", reason))
        return None
    return share


def _segment(uow: UnitOfWork, value: object, problems: list[FieldProblem]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(FieldProblem("segment", "must be a segment's id"))
        return None
    found = uow.conn.execute(select(t.segments.c.segment_id).where(t.segments.c.segment_id == value)).first()
    if found is None:
        problems.append(FieldProblem("segment", f"no segment {value}"))
        return None
    return value


def _groups(
    uow: UnitOfWork, kind: Kind, data: Mapping[str, Any], problems: list[FieldProblem]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The treatment and control stores or cities, each known to the stores registry and in one group only."""
    known = stores.cities(uow)
    names = set(known) if kind is Kind.CITIES else {s for ids in known.values() for s in ids}
    what = "city" if kind is Kind.CITIES else "store"
    lists: dict[str, tuple[str, ...]] = {}
    for field in ("treatment", "control"):
        value = data.get(field)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            problems.append(FieldProblem(field, f"must be a non-empty list of {what} names"))
            continue
        if len(value) > limits.EXPERIMENT_LIST:
            problems.append(FieldProblem(field, f"must list at most {limits.EXPERIMENT_LIST} entries"))
            continue
        problems.extend(
            FieldProblem(f"{field}[{i}]", f"no {what} {v!r} in the stores registry (loyalty stores import)")
            for i, v in enumerate(value)
            if v not in names
        )
        lists[field] = tuple(dict.fromkeys(value))
    both = set(lists.get("treatment", ())) & set(lists.get("control", ()))
    if both:
        problems.append(FieldProblem("control", f"{', '.join(sorted(both))} cannot be in both groups"))
    return lists.get("treatment", ()), lists.get("control", ())


def get(uow: UnitOfWork, experiment_id: str) -> Experiment:
    row = uow.conn.execute(select(t.experiments).where(t.experiments.c.experiment_id == experiment_id)).first()
    if row is None:
        raise NotFound(f"no experiment {experiment_id}")
    return _experiment(row)


def list_experiments(uow: UnitOfWork) -> list[Experiment]:
    """Every experiment, the latest to start first."""
    rows = uow.conn.execute(
        select(t.experiments).order_by(t.experiments.c.starts_at.desc(), t.experiments.c.experiment_id)
    )
    return [_experiment(row) for row in rows]


def _experiment(row: Any) -> Experiment:
    return Experiment(
        row.experiment_id,
        row.name,
        Kind(row.kind),
        Withholds(row.withholds),
        row.starts_at,
        row.ends_at,
        int(row.seed),
        Decimal(row.share).quantize(Decimal("1e-4")) if row.share is not None else None,
        row.segment_id,
        tuple(row.treatment),
        tuple(row.control),
    )


def as_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "kind": experiment.kind.value,
        "withholds": experiment.withholds.value,
        "starts_at": experiment.starts_at.astimezone(UTC).isoformat(),
        "ends_at": experiment.ends_at.astimezone(UTC).isoformat(),
        "seed": experiment.seed,
        "share": f"{experiment.share.normalize():f}" if experiment.share is not None else None,
        "segment": experiment.segment_id,
        "treatment": list(experiment.treatment),
        "control": list(experiment.control),
    }


@dataclass(frozen=True)
class _Registry:
    """The experiments as this process keeps them, with the control stores of each split resolved."""

    experiments: tuple[Experiment, ...]
    control_stores: dict[str, frozenset[str]]


_registries: dict[str, _Registry] = {}


def _registry(uow: UnitOfWork, stamp: str) -> _Registry:
    registry = _registries.get(stamp)
    if registry is None:
        experiments = tuple(list_experiments(uow))
        cities = stores.cities(uow) if any(e.kind is Kind.CITIES for e in experiments) else {}
        control_stores = {
            e.experiment_id: frozenset(s for city in e.control for s in cities.get(city, ()))
            if e.kind is Kind.CITIES
            else frozenset(e.control)
            for e in experiments
            if e.kind is not Kind.HOLDOUT
        }
        registry = _Registry(experiments, control_stores)
        _registries.clear()  # an older stamp is never asked for again
        _registries[stamp] = registry
    return registry


def holdout(uow: UnitOfWork, member_id: int | None, store: str | None, at: datetime) -> Holdout | None:
    """The control group an order of `member_id` at `store` happening `at` falls in, if any: of an experiment in
    force at `at`, withholding the program rather than the campaigns when both would apply. A non-member's order
    has nothing to withhold."""
    if member_id is None:
        return None
    stamp = stamps.get(uow, stamps.EXPERIMENTS)
    if stamp is None:  # no experiment was ever created
        return None
    registry = _registry(uow, stamp)
    found: Holdout | None = None
    for experiment in registry.experiments:
        if not experiment.active_at(at):
            continue
        if experiment.kind is Kind.HOLDOUT:
            if not experiment.holds_out(member_id):
                continue
            if experiment.segment_id is not None and not _in_segment(uow, member_id, experiment.segment_id):
                continue
        elif store not in registry.control_stores[experiment.experiment_id]:
            continue
        held = Holdout(experiment.experiment_id, experiment.withholds, explanation(experiment), experiment.name)
        if held.withholds is Withholds.PROGRAM:
            return held
        found = found or held
    return found


def program_holdout(uow: UnitOfWork, member_id: int, at: datetime) -> Holdout | None:
    """The holdout keeping `member_id` out of the whole program at `at`, for what is given without an order (an
    action's bonus, the birthday gift, a referral's, win-back): a split by store or city withholds nothing that has
    no store, and a campaigns holdout leaves the program's own bonuses alone. As `holdout`, no read of its own when
    no experiment was ever created (the stamp comes with the account's lock)."""
    held = holdout(uow, member_id, None, at)
    return held if held is not None and held.withholds is Withholds.PROGRAM else None


def program_holdouts(uow: UnitOfWork, member_ids: Sequence[int], at: datetime) -> dict[int, Holdout]:
    """Those of `member_ids` a holdout keeps out of the whole program at `at`, with it (as `program_holdout`, for
    many members at once): one read of the segment's membership per holdout drawn from a segment, for the members
    of the batch its hash draws."""
    stamp = stamps.get(uow, stamps.EXPERIMENTS)
    if stamp is None:
        return {}
    found: dict[int, Holdout] = {}
    for e in _registry(uow, stamp).experiments:
        if e.kind is not Kind.HOLDOUT or e.withholds is not Withholds.PROGRAM or not e.active_at(at):
            continue
        drawn = [m for m in member_ids if m not in found and e.holds_out(m)]
        if drawn and e.segment_id is not None:
            m = t.segment_members.c
            query = select(m.account_id).where(m.segment_id == e.segment_id, m.account_id.in_(drawn))
            drawn = list(uow.conn.execute(query).scalars())
        held = Holdout(e.experiment_id, e.withholds, explanation(e), e.name)
        found.update((member_id, held) for member_id in drawn)
    return found


def in_force(uow: UnitOfWork) -> list[tuple[datetime, datetime]]:
    """The periods [starts_at, ends_at) of every experiment: when a holdout may change what an order gets."""
    stamp = stamps.get(uow, stamps.EXPERIMENTS)
    if stamp is None:
        return []
    return [(e.starts_at, e.ends_at) for e in _registry(uow, stamp).experiments]


def _in_segment(uow: UnitOfWork, member_id: int, segment_id: str) -> bool:
    m = t.segment_members.c
    return (
        uow.conn.execute(select(m.account_id).where(m.account_id == member_id, m.segment_id == segment_id)).first()
        is not None
    )
