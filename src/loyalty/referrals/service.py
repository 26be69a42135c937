"""Referrals: a new member names a referrer's code when registering (or soon after) and gets the program's bonus
at once; the referrer is rewarded by a job once the new member's first order is past its return window.

The terms of a referral — points, window, caps — are those of the program version it was made under. Both sides'
entries are `action` entries with the rule ids `referral:new_member` and `referral:referrer`.

A referral is the program's own: each side's bonus is withheld when an experiment holds that side out of the program
at the instant it would be credited (the new member's when the referral is recorded, the referrer's when it is
settled). The referral then records 0 points for that side and the experiment in its `reason`; a referrer's
withheld reward leaves the referral `void`, so that it counts towards no cap."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, exists, func, select, text, update

from loyalty.core.errors import InvalidInput
from loyalty.core.events import Event, EventKind
from loyalty.engagement.model import period_start
from loyalty.experiments import service as experiments
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.ledger.model import EntryKind, Provenance
from loyalty.program import service as programs
from loyalty.program.model import CapPeriod, ProgramVersion, ReferralPolicy
from loyalty.referrals.model import (
    NEW_MEMBER_RULE,
    REFERRER_RULE,
    AttachRequest,
    ReferralStatus,
    cap_reached,
    check_attach,
    normalise_code,
)
from loyalty.storage import tables as t
from loyalty.storage.batches import in_batches
from loyalty.storage.database import UnitOfWork

_R = t.referrals
# One lock for every attach on PostgreSQL (SQLite serialises its writers anyway): two members attaching each other's
# codes at once, or closing a longer ring, would each see no loop. Attaching after registering is rare.
_ATTACH_LOCK = text("SELECT pg_advisory_xact_lock(7658312001)")


def owner_of(uow: UnitOfWork, code: object, path: str) -> tuple[int, str]:
    """The member whose code this is, and the code in canonical form; InvalidInput at `path` if nobody's."""
    canonical = normalise_code(code, path)
    owner = uow.conn.execute(select(t.members.c.member_id).where(t.members.c.referral_code == canonical)).scalar()
    if owner is None:
        raise InvalidInput.at(path, f"no member has the referral code {canonical}")
    return int(owner), canonical


def _policy(version: ProgramVersion, path: str) -> ReferralPolicy:
    policy = version.program.referrals
    if policy is None:
        raise InvalidInput.at(path, f"the program (version {version.number}) has no referral scheme")
    return policy


def record(
    uow: UnitOfWork,
    account: Account,
    version: ProgramVersion,
    referrer_id: int,
    code: str,
    at: datetime,
    path: str = "referral_code",
) -> dict[str, Any]:
    """Record that the member of the locked `account` was referred by `referrer_id` and credit the new member's
    bonus (flushed by the caller). The caller has checked that the member may be referred; a new member may."""
    policy = _policy(version, path)
    held = experiments.program_holdout(uow, account.account_id, at) if policy.new_member_points else None
    row = {
        "account_id": account.account_id,
        "referrer_id": referrer_id,
        "code": code,
        "status": ReferralStatus.PENDING.value,
        "program_version": version.number,
        "created_at": at,
        "settled_at": None,
        "order_key": None,
        "new_member_points": policy.new_member_points if held is None else 0,
        "referrer_points": 0,
        "reason": None if held is None else f"{held.source}: {held.withheld('the new member bonus')}",
    }
    uow.conn.execute(_R.insert().values(**row))
    if row["new_member_points"]:
        details = {"referrer_id": referrer_id, "code": code}
        _credit(account, version, policy, policy.new_member_points, at, NEW_MEMBER_RULE, account.account_id, details)
    return referral_json(SimpleNamespace(**row))


def _credit(
    account: Account,
    version: ProgramVersion,
    policy: ReferralPolicy,
    points: int,
    at: datetime,
    rule_id: str,
    referee_id: int,
    details: dict[str, Any],
) -> int:
    program = version.program
    available_at = at + timedelta(days=policy.pending_days)
    return account.credit(
        EntryKind.ACTION,
        points,
        at,
        available_at,
        program.expiry.expires_at(at, available_at, program.timezone),
        Provenance(
            program_version=version.number, rule_id=rule_id, action_key=f"referral:{referee_id}", details=details
        ),
    )


def attach(uow: UnitOfWork, member_id: int, code: object, now: datetime) -> dict[str, Any]:
    """Name the referrer of a registered member by their code, within the program's `attach_within_days` of
    registering and before a first confirmed order. Attaching the same referrer again returns the referral as it
    is; self-referral and loops are refused (422 at `code`), a second referrer or a late attach is a Conflict."""
    referrer_id, canonical = owner_of(uow, code, "code")
    if not uow.is_sqlite:
        uow.conn.execute(_ATTACH_LOCK)
    account = accounts.lock(uow, member_id, now)
    registered_at = uow.conn.execute(
        select(t.members.c.registered_at).where(t.members.c.member_id == member_id)
    ).scalar_one()
    current = uow.conn.execute(select(_R).where(_R.c.account_id == member_id)).first()
    if current is not None and current.referrer_id == referrer_id:
        return referral_json(current)
    version = programs.version_at(uow, now)
    request = AttachRequest(
        member_id,
        referrer_id,
        _chain(uow, referrer_id),
        current.referrer_id if current is not None else None,
        registered_at,
        _has_confirmed_order(uow, member_id),
    )
    check_attach(request, _policy(version, "code"), now)
    result = record(uow, account, version, referrer_id, canonical, now, "code")
    accounts.flush(uow, account)
    return result


def _chain(uow: UnitOfWork, member_id: int) -> list[int]:
    """Who referred `member_id`, who referred them, and so on (nearest first). The referrals form a forest, so this
    ends; the check against a repeat only guards against data that was edited by hand."""
    chain: list[int] = []
    current = member_id
    while True:
        referrer = uow.conn.execute(select(_R.c.referrer_id).where(_R.c.account_id == current)).scalar()
        if referrer is None or referrer in chain:
            return chain
        chain.append(int(referrer))
        current = int(referrer)


def _has_confirmed_order(uow: UnitOfWork, member_id: int) -> bool:
    """Whether any order of the member was ever confirmed: confirmed now, or cancelled after being confirmed (only
    confirmed orders have lines; a cancelled reservation has none)."""
    o = t.orders
    query = select(o.c.order_key).where(
        o.c.account_id == member_id,
        o.c.status.in_(["confirmed", "cancelled"]),
        exists().where(t.order_lines.c.order_key == o.c.order_key),
    )
    return uow.conn.execute(query.limit(1)).first() is not None


def referral_json(row: Any) -> dict[str, Any]:
    """A referral as the API shows it, from the point of view of the member who was referred."""
    return {
        "member_id": row.account_id,
        "referrer_id": row.referrer_id,
        "code": row.code,
        "status": row.status,
        "program_version": row.program_version,
        "created_at": row.created_at.isoformat(),
        "new_member_points": row.new_member_points,
        "settled_at": row.settled_at.isoformat() if row.settled_at else None,
        "order_id": row.order_key,
        "referrer_points": row.referrer_points,
        "reason": row.reason,
    }


def referred_by(uow: UnitOfWork, member_id: int) -> dict[str, Any]:
    """The members `member_id` referred, oldest first, with their status and the points they earned the referrer."""
    rows = uow.conn.execute(
        select(_R).where(_R.c.referrer_id == member_id).order_by(_R.c.created_at, _R.c.account_id)
    ).all()
    counts = {status.value: 0 for status in ReferralStatus}
    for row in rows:
        counts[row.status] += 1
    return {
        "member_id": member_id,
        "counts": counts,
        "points": sum(row.referrer_points for row in rows),
        "referrals": [
            {
                "member_id": row.account_id,
                "status": row.status,
                "created_at": row.created_at.isoformat(),
                "settled_at": row.settled_at.isoformat() if row.settled_at else None,
                "order_id": row.order_key,
                "points": row.referrer_points,
                "reason": row.reason,
            }
            for row in rows
        ],
    }


REFERRERS_PER_TRANSACTION = 500


def reward_referrers(uow: UnitOfWork, now: datetime, *, recorded_at: datetime | None = None) -> int:
    """Reward the referrers of every pending referral whose new member's first qualifying order — confirmed, not
    cancelled, not wholly returned, at least the return window old at `now` — exists; over a cap the referral
    becomes void instead. All in the caller's transaction; returns the number rewarded.

    Each referrer's account is locked (in ascending order) and their referrals read again under the lock, so a
    concurrent or repeated run rewards nothing twice."""
    versions = _pending_versions(uow)
    due = _due(uow, now, versions)
    return _reward(uow, sorted(_by_referrer(due).items()), due, versions, now, recorded_at or now)


def run(engine: Engine, as_of: datetime, now: datetime, batch_size: int = REFERRERS_PER_TRANSACTION) -> int:
    """The job: as reward_referrers, in one transaction per `batch_size` referrers with pending referrals (ascending),
    so that no account stays locked for the whole run. Each batch reads what is due to its referrers, then their
    referrals again under their locks."""
    rewarded = 0

    def reward(uow: UnitOfWork, referrer_ids: Sequence[int]) -> None:
        nonlocal rewarded
        versions = _pending_versions(uow)
        due = _due(uow, as_of, versions, referrer_ids)
        rewarded += _reward(uow, sorted(_by_referrer(due).items()), due, versions, as_of, now)

    pending = select(_R.c.referrer_id).where(_R.c.status == ReferralStatus.PENDING.value).group_by(_R.c.referrer_id)
    in_batches(engine, pending, reward, size=batch_size)
    return rewarded


def _by_referrer(due: dict[int, tuple[int, str]]) -> dict[int, list[int]]:
    by_referrer: dict[int, list[int]] = {}
    for referee_id, (referrer_id, _) in sorted(due.items()):
        by_referrer.setdefault(referrer_id, []).append(referee_id)
    return by_referrer


def _reward(
    uow: UnitOfWork,
    referrers: list[tuple[int, list[int]]],
    due: dict[int, tuple[int, str]],
    versions: dict[int, ProgramVersion],
    now: datetime,
    recorded_at: datetime,
) -> int:
    rewarded = 0
    for referrer_id, referees in referrers:  # ascending, so concurrent runs lock in the same order
        account = accounts.lock(uow, referrer_id, recorded_at)
        pending = uow.conn.execute(
            select(_R)
            .where(_R.c.account_id.in_(referees), _R.c.status == ReferralStatus.PENDING.value)
            .order_by(_R.c.account_id)
        ).all()
        for row in pending:
            rewarded += _settle(uow, account, versions[row.program_version], row, due[row.account_id][1], now)
        accounts.flush(uow, account)
    return rewarded


def _pending_versions(uow: UnitOfWork) -> dict[int, ProgramVersion]:
    """The program versions pending referrals were made under."""
    numbers = uow.conn.execute(
        select(_R.c.program_version).where(_R.c.status == ReferralStatus.PENDING.value).distinct()
    ).scalars()
    return {number: programs.version(uow, number) for number in sorted(numbers)}


def _due(
    uow: UnitOfWork, now: datetime, versions: dict[int, ProgramVersion], referrers: Sequence[int] | None = None
) -> dict[int, tuple[int, str]]:
    """Pending referrals (of `referrers`, default: of everyone) whose new member has a qualifying order: referee →
    (referrer, the earliest such order). One set-based statement per program version with pending referrals, as
    each has its own return window."""
    o, lines = t.orders, t.order_lines
    due: dict[int, tuple[int, str]] = {}
    for number, version in versions.items():
        policy = version.program.referrals
        if policy is None:
            continue
        query = (
            select(_R.c.account_id, _R.c.referrer_id, o.c.order_key)
            .join(o, o.c.account_id == _R.c.account_id)
            .where(
                _R.c.status == ReferralStatus.PENDING.value,
                _R.c.program_version == number,
                o.c.status == "confirmed",
                o.c.occurred_at <= now - timedelta(days=policy.return_window_days),
                exists().where(lines.c.order_key == o.c.order_key, lines.c.returned_quantity < lines.c.quantity),
            )
            .order_by(_R.c.account_id, o.c.occurred_at, o.c.order_key)
        )
        if referrers is not None:
            query = query.where(_R.c.referrer_id.in_(referrers))
        for referee_id, referrer_id, order_key in uow.conn.execute(query):
            due.setdefault(referee_id, (referrer_id, order_key))
    return due


def _settle(uow: UnitOfWork, account: Account, version: ProgramVersion, row: Any, order_key: str, now: datetime) -> int:
    """Reward one pending referral on the referrer's locked account, or void it over a cap; 1 if rewarded."""
    policy = version.program.referrals
    assert policy is not None  # a referral is only recorded under a version with a referral scheme
    rewarded, this_month = _rewarded_counts(uow, account.account_id, now, version)
    values: dict[str, Any] = {"settled_at": now, "order_key": order_key}
    refusal = cap_reached(policy, rewarded, this_month)
    held = experiments.program_holdout(uow, account.account_id, now) if policy.referrer_points else None
    if held is not None:
        values.update(status=ReferralStatus.VOID.value, reason=f"{held.source}: {held.withheld('the referral reward')}")
    elif refusal is not None:
        values.update(status=ReferralStatus.VOID.value, reason=refusal)
    elif policy.referrer_points:
        details = {"referee_id": row.account_id, "order_id": order_key}
        _credit(account, version, policy, policy.referrer_points, now, REFERRER_RULE, row.account_id, details)
        values.update(status=ReferralStatus.REWARDED.value, referrer_points=policy.referrer_points)
    else:
        values.update(status=ReferralStatus.REWARDED.value)  # a scheme that rewards only the new member
    changed = uow.conn.execute(
        update(_R)
        .where(_R.c.account_id == row.account_id, _R.c.status == ReferralStatus.PENDING.value)
        .values(**values)
    ).rowcount
    if changed != 1:  # cannot happen under the referrer's lock; if it did, the credit must not be written
        raise RuntimeError(f"referral of member {row.account_id} was settled by someone else")
    if values["status"] == ReferralStatus.REWARDED.value:
        data = {"referee_id": row.account_id, "order_id": order_key, "points": values.get("referrer_points", 0)}
        uow.emit(Event(EventKind.REFERRAL_REWARDED, account.account_id, now, data), account.now)
    return 1 if values["status"] == ReferralStatus.REWARDED.value else 0


def _rewarded_counts(uow: UnitOfWork, referrer_id: int, now: datetime, version: ProgramVersion) -> tuple[int, int]:
    """The referrer's rewarded referrals: in all, and settled in the calendar month of `now` (program time zone)."""
    tz = version.program.timezone
    start = period_start(CapPeriod.MONTH, now, tz)
    assert start is not None
    end = period_start(CapPeriod.MONTH, start + timedelta(days=32), tz)
    in_month = (_R.c.settled_at >= start) & (_R.c.settled_at < end)
    row = uow.conn.execute(
        select(func.count(), func.count().filter(in_month)).where(
            _R.c.referrer_id == referrer_id, _R.c.status == ReferralStatus.REWARDED.value
        )
    ).one()
    return int(row[0]), int(row[1])
