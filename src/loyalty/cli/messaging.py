"""`loyalty webhooks`, `loyalty deliveries` and `loyalty events`: the retailer's endpoints, the delivery log (and
replay), and the outbox."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from loyalty.cli.terminal import DatabaseOption, fail, instant, now, out
from loyalty.core.errors import LoyaltyError
from loyalty.core.events import EventKind
from loyalty.messaging import dispatch, outbox, webhooks
from loyalty.messaging.model import Channel, DeliveryStatus
from loyalty.storage.database import UnitOfWork, make_engine

webhooks_app = typer.Typer(help="Webhook endpoints: the retailer's URLs that receive events.", no_args_is_help=True)
deliveries_app = typer.Typer(help="The delivery log: every webhook and message, and replay.", no_args_is_help=True)
events_app = typer.Typer(help="The outbox: the events use cases recorded.", no_args_is_help=True)


@webhooks_app.command("add")
def webhooks_add(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (lower-case letters, digits, '_', '-', '.').")],
    url: Annotated[str, typer.Argument(help="Where events are POSTed (http:// or https://).")],
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="An event kind it wants (repeat; none: all).")
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="A whsec_ secret of your own (default: a new one, shown once).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it is, for people.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Add an endpoint; prints its signing secret once, when the program made it."""
    _check_id(endpoint_id)
    data = webhooks.EndpointInput(url=url, kinds=kind or [], secret=secret, description=description)
    try:
        with UnitOfWork(make_engine(database)) as uow:
            created = webhooks.create(uow, endpoint_id, data, now())
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    out.print_json(json.dumps(created))


@webhooks_app.command("list")
def webhooks_list(database: DatabaseOption = None) -> None:
    """The endpoints (secrets are never shown)."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        found = webhooks.list_endpoints(uow)
    table = Table("id", "url", "kinds", "enabled")
    for e in found:
        table.add_row(e["endpoint_id"], e["url"], ", ".join(e["kinds"]) or "all", "yes" if e["enabled"] else "no")
    out.print(table)


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: str, database: DatabaseOption = None) -> None:
    """Remove an endpoint; its deliveries not yet made are given up (the log stays)."""
    try:
        with UnitOfWork(make_engine(database)) as uow:
            removed = webhooks.remove(uow, endpoint_id, now())
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    out.print(f"Removed {endpoint_id}; {removed['deliveries_given_up']} pending deliveries given up")


def _check_id(endpoint_id: str) -> None:
    import re

    from loyalty.core import limits

    if not re.match(limits.id_pattern(limits.ENDPOINT_ID), endpoint_id):
        raise typer.BadParameter(
            f"lower-case letters, digits, '_', '-', '.', at most {limits.ENDPOINT_ID}", param_hint="ENDPOINT_ID"
        )


@deliveries_app.command("list")
def deliveries_list(
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only deliveries in this state.")] = None,
    channel: Annotated[Channel | None, typer.Option(help="Only this channel.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this endpoint's (or trigger's).")] = None,
    member: Annotated[int | None, typer.Option(help="Only this member's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database: DatabaseOption = None,
) -> None:
    """The delivery log, oldest first."""
    where = dispatch.DeliveryFilter(status=status, channel=channel, target=target, member_id=member)
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        found = dispatch.deliveries(uow, where, limit=limit)
    table = Table("id", "event", "channel", "target", "status", "attempts", "last status", "error")
    for d in found:
        table.add_row(
            str(d["delivery_id"]),
            str(d["event_id"]),
            d["channel"],
            d["target"],
            d["status"],
            str(d["attempts"]),
            str(d["status_code"] or ""),
            d["error"] or "",
        )
    out.print(table)


@deliveries_app.command("show")
def deliveries_show(delivery_id: int, database: DatabaseOption = None) -> None:
    """One delivery with every attempt."""
    try:
        with UnitOfWork(make_engine(database), read_only=True) as uow:
            found = dispatch.delivery(uow, delivery_id)
    except LoyaltyError as error:
        fail(error)
    out.print_json(json.dumps(found))


@deliveries_app.command("replay")
def deliveries_replay(
    delivery_id: Annotated[int | None, typer.Argument(help="The delivery to send again.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Or every delivery created from this instant...")] = None,
    to: Annotated[str | None, typer.Option("--to", help="...until this one (a bare date: its start, UTC).")] = None,
    status: Annotated[DeliveryStatus | None, typer.Option(help="With --from/--to: only in this state.")] = None,
    target: Annotated[str | None, typer.Option(help="With --from/--to: only this endpoint's.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Send a delivery again, or every delivery of a time range; the worker sends them on its next pass."""
    from datetime import UTC

    engine, at = make_engine(database), now()
    try:
        with UnitOfWork(engine) as uow:
            if delivery_id is not None:
                dispatch.replay(uow, delivery_id, at)
                said = f"Delivery {delivery_id} will be sent again"
            else:
                where = dispatch.DeliveryFilter(
                    status=status,
                    target=target,
                    created_from=instant(from_, "--from", UTC, "start") if from_ else None,
                    created_to=instant(to, "--to", UTC, "start") if to else None,
                )
                said = f"{dispatch.replay_range(uow, where, at)} deliveries will be sent again"
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    out.print(said)


@events_app.command("list")
def events_list(
    after: Annotated[int | None, typer.Option(help="Only events after this id.")] = None,
    kind: Annotated[list[EventKind] | None, typer.Option("--kind", help="Only this kind (repeat).")] = None,
    member: Annotated[int | None, typer.Option(help="Only this member's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database: DatabaseOption = None,
) -> None:
    """The outbox's events, oldest first, one JSON object per line."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        found = outbox.events(uow, after=after, kinds=kind or None, member_id=member, limit=limit)
    for event in found:
        out.print(json.dumps(event, ensure_ascii=False), highlight=False, soft_wrap=True)
