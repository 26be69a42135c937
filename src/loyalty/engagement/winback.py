"""Win-back: points for members who stopped buying, granted by `loyalty jobs run win-back`.

A member is inactive when their last confirmed order (or their registration, if they never ordered) is at least the
program's `win_back.inactive_days` old. Each spell of inactivity earns one grant — and, with `repeat_after_days`,
another each time the member is still inactive that long after the last one. A grant is an `action` entry (rule
`win_back`) whose lot burns `expires_after_days` later and can pay at most `max_share_percent` of an order; it is
recorded in `action_events` (action `win_back`, event id `<member>:<last activity>[:<n>]`), which is what makes
running the job again, at the same or a later instant with no new order in between, grant nothing more.

Win-back is the program's own (its `win_back` section), so a member an experiment holds out of the program at the
job's instant is not granted it, and nothing is recorded for them: once the experiment ends, a member still inactive
is due as anyone is. The job counts them as `withheld`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, func, or_, select

from loyalty.core.events import Event, EventKind
from loyalty.engagement import actions
from loyalty.experiments import service as experiments
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.program import service as programs
from loyalty.program.model import ProgramVersion, WinBackPolicy
from loyalty.storage import tables as t
from loyalty.storage.batches import in_batches, next_ids
from loyalty.storage.database import UnitOfWork

ACTION = "win_back"
_MEMBERS = select(t.members.c.member_id)


def grant_win_back(uow: UnitOfWork, now: datetime, recorded_at: datetime | None = None) -> int:
    """Grant win-back points as of `now` to every member due one, in the caller's transaction (the caller
    commits); returns how many members got a grant. The program version in force at `now` decides the terms."""
    version = programs.version_at(uow, now)
    policy = version.program.win_back
    granted, after = 0, None
    while policy is not None and (members := next_ids(uow, _MEMBERS, after)):
        granted += _grant_batch(uow, version, policy, members, now, recorded_at or now)[0]
        after = members[-1]
    return granted


def run(engine: Engine, as_of: datetime, now: datetime) -> dict[str, int]:
    """The job: `grant_win_back` as of `as_of`, one transaction per batch of members, so that a large run neither
    holds its account locks long nor loses its work to one failure. Returns members granted, points given and
    members due whose grant an experiment withheld."""
    counts = {"granted": 0, "points": 0, "withheld": 0}
    with UnitOfWork(engine, read_only=True) as uow:
        if programs.version_at(uow, as_of).program.win_back is None:
            return counts

    def grant(uow: UnitOfWork, members: Sequence[int]) -> None:
        version = programs.version_at(uow, as_of)
        policy = version.program.win_back
        if policy is None:  # a version without win-back took effect since the run began: nobody is due
            return
        granted, withheld = _grant_batch(uow, version, policy, members, as_of, now)
        counts["granted"] += granted
        counts["points"] += granted * policy.points
        counts["withheld"] += withheld

    in_batches(engine, _MEMBERS, grant)
    return counts


def _grant_batch(
    uow: UnitOfWork,
    version: ProgramVersion,
    policy: WinBackPolicy,
    members: Sequence[int],
    as_of: datetime,
    now: datetime,
) -> tuple[int, int]:
    """Grant those of `members` (ascending) due one, each under its account's lock, unless an experiment holds them
    out of the program at `as_of`; the numbers granted and withheld."""
    due = uow.conn.execute(
        _due(policy, as_of).where(t.members.c.member_id.in_(members)).order_by(t.members.c.member_id)
    ).all()
    granted, withheld = 0, 0
    for candidate in due:
        account = accounts.lock(uow, candidate.member_id, now)
        if experiments.program_holdout(uow, candidate.member_id, as_of) is not None:
            withheld += 1
            continue
        # Again under the lock: an order or another run of the job may have come in since the batch was read.
        row = uow.conn.execute(_due(policy, as_of).where(t.members.c.member_id == candidate.member_id)).first()
        if row is None:
            continue
        _grant(uow, account, version, policy, row, as_of)
        accounts.flush(uow, account)
        data = {
            "points": policy.points,
            "expires_at": (as_of + timedelta(days=policy.expires_after_days)).isoformat(),
            "last_activity": row.last_activity.isoformat(),
            "balance": account.balance,
        }
        uow.emit(Event(EventKind.WIN_BACK_GRANTED, account.account_id, as_of, data), now)
        granted += 1
    return granted, withheld


def _due(policy: WinBackPolicy, as_of: datetime) -> Select[Any]:
    """The members due a grant as of `as_of`, with their last activity and the grants since it, in one query."""
    m, o, e = t.members, t.orders, t.action_events
    last_order = (
        select(func.max(o.c.occurred_at))
        .where(o.c.account_id == m.c.member_id, o.c.status == "confirmed")
        .scalar_subquery()
    )
    last_activity = func.coalesce(last_order, m.c.registered_at)
    grants = and_(e.c.account_id == m.c.member_id, e.c.action == ACTION)
    last_grant = select(func.max(e.c.occurred_at)).where(grants).scalar_subquery()
    since_activity = (
        select(func.count()).select_from(e).where(grants, e.c.occurred_at >= last_activity).scalar_subquery()
    )
    fresh: ColumnElement[bool] = or_(last_grant.is_(None), last_grant < last_activity)
    if policy.repeat_after_days is not None:
        fresh = or_(fresh, last_grant <= as_of - timedelta(days=policy.repeat_after_days))
    return (
        select(m.c.member_id, last_activity.label("last_activity"), since_activity.label("grants"))
        .join(t.accounts, t.accounts.c.account_id == m.c.member_id)
        .where(last_activity <= as_of - timedelta(days=policy.inactive_days), fresh)
    )


def _grant(
    uow: UnitOfWork, account: Account, version: ProgramVersion, policy: WinBackPolicy, row: Any, as_of: datetime
) -> None:
    last_activity: datetime = row.last_activity
    # The grants of one spell of inactivity share its last activity; a repeat within the spell adds its number.
    event_key = f"{account.account_id}:{last_activity.isoformat()}" + (f":{row.grants + 1}" if row.grants else "")
    actions.record_grant(
        uow,
        account,
        version,
        ACTION,
        event_key,
        policy.points,
        as_of,
        as_of,
        as_of + timedelta(days=policy.expires_after_days),
        rule_id=ACTION,
        request_hash=hashlib.sha256(event_key.encode()).hexdigest(),
        max_share=policy.max_share,
    )
