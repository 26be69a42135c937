"""The birthday gift: the program's `birthday` action bonus, granted once a year on the member's birthday (in the
program's time zone; 29 February is celebrated on 28 February in other years) by `loyalty jobs run birthdays`."""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, extract, or_, select

from loyalty.core.events import Event, EventKind
from loyalty.engagement.actions import CapReached, grant_action
from loyalty.ledger import repository as accounts
from loyalty.program import service as programs
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


def grant_gifts(engine: Engine, as_of: datetime, now: datetime) -> dict[str, int]:
    """Grant the birthday bonus to every member whose birthday is the local date of `as_of`. Running it again
    for the same day grants nothing more (the event id is the member's birthday of that year). A member an
    experiment holds out of the program gets no gift and no `birthday` event: the gift is recorded as withheld
    (`engagement.actions.grant_action`) and counted apart."""
    with UnitOfWork(engine) as uow:
        version = programs.version_at(uow, as_of)
        program = version.program
        if "birthday" not in program.actions:
            return {"members": 0, "points": 0, "withheld": 0}
        day = as_of.astimezone(program.timezone).date()
        born = t.members.c.birth_date
        same_day: ColumnElement[bool] = (extract("month", born) == day.month) & (extract("day", born) == day.day)
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            same_day = or_(same_day, (extract("month", born) == 2) & (extract("day", born) == 29))
        member_ids = (
            uow.conn.execute(
                select(t.members.c.member_id).where(born.is_not(None), same_day).order_by(t.members.c.member_id)
            )
            .scalars()
            .all()
        )
        granted, points, withheld = 0, 0, 0
        for member_id in member_ids:
            event = f"birthday-{day.year}"
            seen = uow.conn.execute(
                select(t.action_events.c.event_key).where(
                    t.action_events.c.action == "birthday", t.action_events.c.event_key == f"{member_id}:{event}"
                )
            ).first()
            if seen is not None:
                continue
            account = accounts.lock(uow, member_id, now)
            try:
                result = grant_action(uow, account, version, "birthday", f"{member_id}:{event}", as_of)
            except CapReached:
                continue
            if result.get("withheld_by") is not None:
                withheld += 1
                continue
            accounts.flush(uow, account)
            data = {"points": int(result["points"]), "birthday": day.isoformat(), "balance": account.balance}
            uow.emit(Event(EventKind.BIRTHDAY, member_id, as_of, data, key=event), now)
            granted += 1
            points += int(result["points"])
        uow.commit()
    return {"members": granted, "points": points, "withheld": withheld}
