"""Action bonuses (registration, review, referral, subscription, survey, email_open, custom types), exactly once
per event id and within the program's caps."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from loyalty.core import limits
from loyalty.core.errors import Conflict, InvalidInput
from loyalty.engagement.model import period_start
from loyalty.experiments import service as experiments
from loyalty.experiments.model import Holdout
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.ledger.model import EntryKind, Provenance
from loyalty.program import service as programs
from loyalty.program.model import CapPeriod, Program, ProgramVersion
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

# From the start of a period, a step (in local wall-clock time) that surely lands inside the next period.
_PAST_PERIOD = {
    CapPeriod.DAY: timedelta(days=1, hours=12),
    CapPeriod.WEEK: timedelta(days=8),
    CapPeriod.MONTH: timedelta(days=32),
    CapPeriod.YEAR: timedelta(days=367),
}


class CapReached(Conflict):
    kind = "cap-reached"


def grant_action(
    uow: UnitOfWork,
    account: Account,
    version: ProgramVersion,
    action: str,
    event_key: str,
    occurred_at: datetime,
    request_hash: str | None = None,
) -> dict[str, Any]:
    """Credit the bonus for one action event on a locked account and record the event. Raises CapReached.

    A member an experiment holds out of the program at `occurred_at` gets nothing: the event is recorded with 0
    points and the experiment named in its result (`withheld_by`, `reason`), so that a retry answers the same and an
    auditor sees why. Such an event uses up no cap."""
    program = version.program
    bonus = program.actions.get(action)
    if bonus is None:
        raise InvalidInput.at("action", f"the program (version {version.number}) gives no bonus for {action!r}")
    request_hash = request_hash or action_hash(account.account_id, occurred_at)
    held = experiments.program_holdout(uow, account.account_id, occurred_at)
    if held is not None:
        row = withheld_action(account.account_id, version, action, event_key, occurred_at, held, request_hash)
        uow.conn.execute(t.action_events.insert().values(**row))
        return dict(row["result"])
    if bonus.cap_count is not None:
        since = period_start(bonus.cap_period, occurred_at, program.timezone)
        query = (
            select(func.count())
            .select_from(t.action_events)
            .where(
                t.action_events.c.account_id == account.account_id,
                t.action_events.c.action == action,
                t.action_events.c.points > 0,  # an event whose bonus an experiment withheld was granted nothing
            )
        )
        if since is not None:
            # The period has an end too: a late event is counted against its own period, not a later one's.
            until = period_start(bonus.cap_period, since + _PAST_PERIOD[bonus.cap_period], program.timezone)
            query = query.where(t.action_events.c.occurred_at >= since, t.action_events.c.occurred_at < until)
        if uow.conn.execute(query).scalar_one() >= bonus.cap_count:
            raise CapReached(f"{action}: at most {bonus.cap_count} per {bonus.cap_period.value} already granted")
    available_at, expires_at = bonus_terms(program, action, occurred_at)
    return record_grant(
        uow,
        account,
        version,
        action,
        event_key,
        bonus.points,
        occurred_at,
        available_at,
        expires_at,
        rule_id=f"action.{action}",
        request_hash=request_hash,
    )


def bonus_terms(program: Program, action: str, occurred_at: datetime) -> tuple[datetime, datetime | None]:
    """When an action's bonus earned at `occurred_at` becomes spendable and when it expires."""
    available_at = occurred_at + timedelta(days=program.actions[action].pending_days)
    return available_at, program.expiry.expires_at(occurred_at, available_at, program.timezone)


def record_grant(
    uow: UnitOfWork,
    account: Account,
    version: ProgramVersion,
    action: str,
    event_key: str,
    points: int,
    occurred_at: datetime,
    available_at: datetime,
    expires_at: datetime | None,
    *,
    rule_id: str,
    request_hash: str,
    max_share: Decimal | None = None,
) -> dict[str, Any]:
    """Credit an action's points on a locked account and record the event, whose result a retry returns."""
    row = credit_action(
        account,
        version,
        action,
        event_key,
        points,
        occurred_at,
        available_at,
        expires_at,
        rule_id=rule_id,
        request_hash=request_hash,
        max_share=max_share,
    )
    uow.conn.execute(t.action_events.insert().values(**row))
    return dict(row["result"])


def credit_action(
    account: Account,
    version: ProgramVersion,
    action: str,
    event_key: str,
    points: int,
    occurred_at: datetime,
    available_at: datetime,
    expires_at: datetime | None,
    *,
    rule_id: str,
    request_hash: str,
    max_share: Decimal | None = None,
) -> dict[str, Any]:
    """Credit an action's points to `account` (in memory) and return the `action_events` row that records it, its
    `result` what a retry gets back."""
    entry_no = account.credit(
        EntryKind.ACTION,
        points,
        occurred_at,
        available_at,
        expires_at,
        Provenance(program_version=version.number, rule_id=rule_id, action_key=event_key),
        max_share=max_share,
    )
    result = {
        "member_id": account.account_id,
        "action": action,
        "event_id": event_key,
        "points": points,
        "entry_no": entry_no,
        "program_version": version.number,
        "available_at": available_at.isoformat(),
        "expires_at": expires_at.isoformat() if expires_at else None,
        "withheld_by": None,
        "reason": None,
    }
    if max_share is not None:
        result["max_share_percent"] = f"{(max_share * 100).normalize():f}"
    return {
        "action": action,
        "event_key": event_key,
        "account_id": account.account_id,
        "occurred_at": occurred_at,
        "points": points,
        "request_hash": request_hash,
        "result": result,
    }


def withheld_action(
    account_id: int,
    version: ProgramVersion,
    action: str,
    event_key: str,
    occurred_at: datetime,
    held: Holdout,
    request_hash: str,
) -> dict[str, Any]:
    """The `action_events` row of an event whose bonus `held` withheld: 0 points, no entry, and why."""
    result = {
        "member_id": account_id,
        "action": action,
        "event_id": event_key,
        "points": 0,
        "entry_no": None,
        "program_version": version.number,
        "available_at": None,
        "expires_at": None,
        "withheld_by": held.source,
        "reason": held.withheld(f"the {action} bonus"),
    }
    return {
        "action": action,
        "event_key": event_key,
        "account_id": account_id,
        "occurred_at": occurred_at,
        "points": 0,
        "request_hash": request_hash,
        "result": result,
    }


def record_action(
    uow: UnitOfWork,
    member_id: int,
    action: str,
    event_key: str,
    occurred_at: datetime,
    now: datetime,
    *,
    occurred_at_given: bool = True,
) -> dict[str, Any]:
    """Grant the bonus for an action event, once per (action, event id): a retry returns the first result.
    With `occurred_at_given` false, `occurred_at` is the time the event arrived, and a retry that also leaves it
    out, a moment later, is still the same event."""
    if not event_key or len(event_key) > limits.ACTION_KEY:
        raise InvalidInput.at("event_id", f"is required, at most {limits.ACTION_KEY} characters")
    account = accounts.lock(uow, member_id, now)
    existing = uow.conn.execute(
        select(t.action_events).where(t.action_events.c.action == action, t.action_events.c.event_key == event_key)
    ).first()
    digest = action_hash(member_id, occurred_at if occurred_at_given else None)
    if existing is not None:
        if existing.request_hash != digest:
            raise Conflict(f"event {event_key!r} of {action!r} was already recorded with other details")
        return dict(existing.result)
    version = programs.version_at(uow, occurred_at)
    result = grant_action(uow, account, version, action, event_key, occurred_at, digest)
    accounts.flush(uow, account)
    return result


def action_hash(member_id: int, occurred_at: datetime | None) -> str:
    body = json.dumps([member_id, occurred_at.isoformat() if occurred_at else None])
    return hashlib.sha256(body.encode()).hexdigest()
