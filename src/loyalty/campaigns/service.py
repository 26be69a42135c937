"""Campaigns and personal offers: define and change them, and read them. What the checkout needs of them (those in
force, what they need to know about the member, the points each may still give) is in campaigns/offerings.py.

A change makes a new revision and never touches points already given: those are ledger entries, which name the
campaign and the revision that produced them, and returns take back what the order's lines recorded.

Budgets are exact under concurrency: a confirm that earns from a campaign with a budget locks the campaign's row
(after the member's account, so locks are always taken in one order), reads what is left and records what it gave
in the same transaction. Per-member caps need no extra lock: the member's account lock already serialises them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, func, select
from sqlalchemy import update as sql_update

from loyalty.campaigns.document import parse_campaign
from loyalty.campaigns.model import Campaign
from loyalty.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from loyalty.core.events import Event, EventKind
from loyalty.program import service as programs
from loyalty.program.model import Program
from loyalty.segments.lists import references, resolve_references
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

KINDS = {False: "campaign", True: "offer"}


def _label(personal: bool) -> str:
    return KINDS[personal]


# --- defining ----------------------------------------------------------------------------------------------------


def _program(uow: UnitOfWork, now: datetime) -> Program | None:
    """The program whose time zone, currency and tiers a definition is read in: the one in force, else the first
    one scheduled."""
    try:
        return programs.version_at(uow, now).program
    except programs.NoProgram:
        first = uow.conn.execute(select(t.program_versions.c.number).order_by(t.program_versions.c.number)).first()
        return programs.version(uow, first.number).program if first is not None else None


def _parse(uow: UnitOfWork, data: Mapping[str, Any], now: datetime, personal: bool, revision: int) -> Campaign:
    program = _program(uow, now)
    tiers = frozenset(level.id for level in program.tiers.levels) if program and program.tiers else frozenset()
    return parse_campaign(
        dict(data),
        timezone=program.timezone if program else ZoneInfo("UTC"),
        exponent=program.exponent if program else 2,
        personal=personal,
        revision=revision,
        tiers=tiers,
    )


def _read(
    uow: UnitOfWork, data: Mapping[str, Any], now: datetime, personal: bool, revision: int
) -> tuple[Campaign, dict[str, Any], list[int] | None]:
    """The parsed campaign, the definition to store, and the listed members (None when the audience is not a
    list); InvalidInput with every problem, including unknown segments and members."""
    if "\\u0000" in json.dumps(data, default=str):
        raise InvalidInput.at("", "must not contain NUL characters")
    problems: list[FieldProblem] = []
    campaign: Campaign | None = None
    try:
        campaign = _parse(uow, data, now, personal, revision)
    except InvalidInput as error:
        problems.extend(error.problems)
    stored = json.loads(json.dumps(data, default=str))
    listed: list[int] | None = None
    audience = data.get("audience")
    if isinstance(audience, dict) and isinstance(audience.get("segments"), list):
        wanted = [s for s in audience["segments"] if isinstance(s, str)]
        known = set(
            uow.conn.execute(select(t.segments.c.segment_id).where(t.segments.c.segment_id.in_(wanted))).scalars()
        )
        for i, segment in enumerate(wanted):
            if segment not in known:
                problems.append(FieldProblem(f"audience.segments[{i}]", f"unknown segment {segment!r}"))
    if isinstance(audience, dict) and isinstance(audience.get("members"), list):
        try:
            # A file may name members by bare ids.
            named = [
                {"member_id": r} if isinstance(r, int) and not isinstance(r, bool) else r for r in audience["members"]
            ]
            listed = resolve_references(uow, references(named, "audience.members"))
        except InvalidInput as error:
            problems.extend(error.problems)
        stored["audience"] = {"members": len(listed or [])}
    if problems:
        raise InvalidInput(problems)
    assert campaign is not None
    return campaign, stored, listed


def create(uow: UnitOfWork, data: Mapping[str, Any], now: datetime, *, personal: bool = False) -> dict[str, Any]:
    """A new campaign (or personal offer). An id already taken is a Conflict; a bad definition stores nothing."""
    campaign, stored, listed = _read(uow, data, now, personal, 1)
    if _row(uow, campaign.id) is not None:
        raise Conflict(f"{_label(personal)} {campaign.id} already exists; change it with PUT")
    uow.conn.execute(
        t.campaigns.insert().values(
            campaign_id=campaign.id,
            kind=_label(personal),
            name=campaign.name,
            revision=1,
            definition=stored,
            starts_at=campaign.schedule.starts_at,
            ends_at=campaign.schedule.ends_at,
            budget_points=campaign.budget,
            budget_used=0,
            created_at=now,
            updated_at=now,
        )
    )
    _record(uow, campaign, stored, listed, now)
    return get(uow, campaign.id, personal=personal)


def update(
    uow: UnitOfWork, campaign_id: str, data: Mapping[str, Any], now: datetime, *, personal: bool = False
) -> dict[str, Any]:
    """Replace a campaign's definition with a new revision. What it already gave stays as it was; a budget may
    not go below what was already given. The id cannot change."""
    row = _row(uow, campaign_id, personal=personal, lock=True)
    if row is None:
        raise NotFound(f"no {_label(personal)} {campaign_id}")
    if data.get("id", campaign_id) != campaign_id:
        raise InvalidInput.at("id", f"must be {campaign_id!r}, the id in the path; an id cannot change")
    campaign, stored, listed = _read(uow, {**data, "id": campaign_id}, now, personal, row.revision + 1)
    if campaign.budget is not None and campaign.budget < row.budget_used:
        raise InvalidInput.at(
            "budget_points", f"must be at least {row.budget_used}, the points the campaign has already given"
        )
    if isinstance(stored.get("audience"), dict) and "members" in stored["audience"] and listed is None:
        listed = []
    uow.conn.execute(
        sql_update(t.campaigns)
        .where(t.campaigns.c.campaign_id == campaign_id)
        .values(
            name=campaign.name,
            revision=campaign.revision,
            definition=stored,
            starts_at=campaign.schedule.starts_at,
            ends_at=campaign.schedule.ends_at,
            budget_points=campaign.budget,
            updated_at=now,
        )
    )
    uow.conn.execute(t.campaign_members.delete().where(t.campaign_members.c.campaign_id == campaign_id))
    _record(uow, campaign, stored, listed, now)
    return get(uow, campaign_id, personal=personal)


def _record(
    uow: UnitOfWork, campaign: Campaign, stored: dict[str, Any], listed: list[int] | None, now: datetime
) -> None:
    uow.conn.execute(
        t.campaign_revisions.insert().values(
            campaign_id=campaign.id, revision=campaign.revision, definition=stored, changed_at=now
        )
    )
    if listed:
        uow.conn.execute(t.campaign_members.insert(), [{"campaign_id": campaign.id, "account_id": m} for m in listed])
        if campaign.personal and campaign.enabled:
            # Once per member and offer (the key): changing the offer later does not announce it again.
            data = {
                "offer_id": campaign.id,
                "name": campaign.name,
                "description": campaign.description,
                "starts_at": campaign.schedule.starts_at.isoformat(),
                "ends_at": campaign.schedule.ends_at.isoformat() if campaign.schedule.ends_at else None,
            }
            for member in listed:
                uow.emit(Event(EventKind.OFFER_GRANTED, member, now, data, key=f"offer:{campaign.id}"), now)
    _touch(uow)


def _touch(uow: UnitOfWork) -> None:
    """A new stamp, so every process reloads its campaigns at its next order."""
    stamps.renew(uow, stamps.CAMPAIGNS)


def _row(uow: UnitOfWork, campaign_id: str, *, personal: bool | None = None, lock: bool = False) -> Row[Any] | None:
    query = select(t.campaigns).where(t.campaigns.c.campaign_id == campaign_id)
    if personal is not None:
        query = query.where(t.campaigns.c.kind == _label(personal))
    return uow.conn.execute(query.with_for_update() if lock else query).first()


# --- reading -----------------------------------------------------------------------------------------------------


def _view(uow: UnitOfWork, row: Row[Any]) -> dict[str, Any]:
    given = uow.conn.execute(
        select(func.coalesce(func.sum(t.campaign_member_usage.c.points), 0), func.count()).where(
            t.campaign_member_usage.c.campaign_id == row.campaign_id
        )
    ).one()
    view = {
        "id": row.campaign_id,
        "kind": row.kind,
        "name": row.name,
        "revision": row.revision,
        "definition": row.definition,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "points_given": int(given[0]),
        "members_rewarded": int(given[1]),
        "budget_points": row.budget_points,
        "budget_left": row.budget_points - row.budget_used if row.budget_points is not None else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
    if isinstance(row.definition.get("audience"), dict) and "members" in row.definition["audience"]:
        view["members_listed"] = uow.conn.execute(
            select(func.count()).where(t.campaign_members.c.campaign_id == row.campaign_id)
        ).scalar_one()
    return view


def get(uow: UnitOfWork, campaign_id: str, *, personal: bool = False) -> dict[str, Any]:
    row = _row(uow, campaign_id, personal=personal)
    if row is None:
        raise NotFound(f"no {_label(personal)} {campaign_id}")
    return _view(uow, row)


def list_campaigns(uow: UnitOfWork, *, personal: bool = False) -> list[dict[str, Any]]:
    rows = uow.conn.execute(
        select(t.campaigns).where(t.campaigns.c.kind == _label(personal)).order_by(t.campaigns.c.campaign_id)
    )
    return [_view(uow, row) for row in rows]


def revisions(uow: UnitOfWork, campaign_id: str, *, personal: bool = False) -> list[dict[str, Any]]:
    if _row(uow, campaign_id, personal=personal) is None:
        raise NotFound(f"no {_label(personal)} {campaign_id}")
    rows = uow.conn.execute(
        select(t.campaign_revisions)
        .where(t.campaign_revisions.c.campaign_id == campaign_id)
        .order_by(t.campaign_revisions.c.revision)
    )
    return [{"revision": r.revision, "definition": r.definition, "changed_at": r.changed_at.isoformat()} for r in rows]


def apply(uow: UnitOfWork, document: Mapping[str, Any], now: datetime) -> dict[str, list[str]]:
    """Create or change every campaign and offer of a file (`campaigns:` and `offers:` lists), all or nothing:
    each problem is reported with its place in the file. One whose definition is unchanged keeps its revision."""
    problems: list[FieldProblem] = []
    outcome: dict[str, list[str]] = {"created": [], "changed": [], "unchanged": []}
    unknown = set(document) - {"campaigns", "offers"}
    for key in sorted(unknown):
        problems.append(FieldProblem(key, "unknown section; expected campaigns and/or offers"))
    for section, personal in (("campaigns", False), ("offers", True)):
        items = document.get(section) or []
        if not isinstance(items, list):
            problems.append(FieldProblem(section, "must be a list of definitions"))
            continue
        for i, item in enumerate(items):
            try:
                outcome[_apply_one(uow, item, now, personal)].append(f"{_label(personal)}:{item['id']}")
            except InvalidInput as error:
                problems.extend(FieldProblem(f"{section}[{i}].{p.path}".rstrip("."), p.reason) for p in error.problems)
            except (Conflict, NotFound) as error:
                problems.append(FieldProblem(f"{section}[{i}]", str(error)))
    if problems:
        raise InvalidInput(problems)
    return outcome


def _apply_one(uow: UnitOfWork, item: object, now: datetime, personal: bool) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise InvalidInput.at("id", "each definition is a mapping with an id")
    row = _row(uow, item["id"])
    if row is None:
        create(uow, item, now, personal=personal)
        return "created"
    if row.kind != _label(personal):
        raise Conflict(f"{item['id']} is already a{'n' if row.kind == 'offer' else ''} {row.kind}")
    _, stored, _ = _read(uow, item, now, personal, row.revision)
    if stored == row.definition and not (isinstance(stored.get("audience"), dict) and "members" in stored["audience"]):
        return "unchanged"
    update(uow, item["id"], item, now, personal=personal)
    return "changed"
