"""`loyalty messaging`: the channels, the rules of contact, templates (with preview) and triggers, each from a YAML
or JSON file read as the HTTP API reads its body (the same models, the same field paths in errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from loyalty.cli.terminal import DatabaseOption, fail, now, out, print_json
from loyalty.core.errors import InvalidInput, LoyaltyError
from loyalty.core.validation import problems_of
from loyalty.messaging import messages
from loyalty.messaging.model import Channel
from loyalty.messaging.schemas import PolicyIn, SmsChannel, SmtpChannel, TemplateIn, TriggerIn, trigger_of
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, make_engine

app = typer.Typer(help="Messages: channels, rules of contact, templates and triggers.", no_args_is_help=True)
Model = TypeVar("Model", bound=BaseModel)
FileArgument = Annotated[Path, typer.Argument(help="A YAML or JSON file, as the API's body (see the README).")]


def _read(file: Path, model: type[Model]) -> Model:
    document = programs.read_document_file(file)
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise InvalidInput(problems_of(error, model)) from None


def _write(database: str | None, change: Any) -> Any:
    try:
        with UnitOfWork(make_engine(database)) as uow:
            done = change(uow)
            uow.commit()
    except LoyaltyError as error:
        fail(error)
    return done


def _read_only(database: str | None, query: Any) -> Any:
    try:
        with UnitOfWork(make_engine(database), read_only=True) as uow:
            return query(uow)
    except LoyaltyError as error:
        fail(error)


@app.command("channel")
def channel(
    which: Annotated[Literal["email", "sms"], typer.Argument(help="email (SMTP) or sms (an HTTP gateway).")],
    file: Annotated[Path | None, typer.Argument(help="Settings to set (none: show them; secrets as ********).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Show or set a channel's settings."""
    kind = Channel(which)
    if file is None:
        print_json(_read_only(database, lambda uow: messages.channel_view(uow, kind)))
        return
    try:
        model: type[BaseModel] = SmtpChannel if kind is Channel.EMAIL else SmsChannel
        config = _read(file, model).model_dump(exclude_none=True)
    except LoyaltyError as error:
        fail(error)
    print_json(_write(database, lambda uow: messages.set_channel(uow, kind, config)))


@app.command("policy")
def policy(
    file: Annotated[Path | None, typer.Argument(help="Rules to set (none: show them).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Show or set the rules of contact: quiet hours, frequency caps, the default language, the public URL."""
    if file is None:
        print_json(_read_only(database, messages.policy_view))
        return
    try:
        rules = _read(file, PolicyIn).as_dict()
    except LoyaltyError as error:
        fail(error)
    print_json(_write(database, lambda uow: messages.set_policy(uow, rules)))


@app.command("template")
def template(
    template_id: Annotated[str, typer.Argument(help="The template's id.")],
    file: FileArgument,
    database: DatabaseOption = None,
) -> None:
    """Create or replace a template; refused, naming the part and line, unless it renders with the sample member."""
    try:
        given = _read(file, TemplateIn)
    except LoyaltyError as error:
        fail(error)
    wordings: dict[str, Any] = {language: w.model_dump(exclude_none=True) for language, w in given.wordings.items()}
    channel_of = Channel(given.channel)
    saved = _write(
        database, lambda uow: messages.save_template(uow, template_id, channel_of, given.name, wordings, now())
    )
    out.print(f"Saved template {saved['template_id']} ({saved['channel']})")


@app.command("templates")
def templates(database: DatabaseOption = None) -> None:
    """List the templates."""
    print_json(_read_only(database, messages.list_templates))


@app.command("preview")
def preview(
    template_id: str,
    member: Annotated[int | None, typer.Option(help="Render for this member (default: the sample member).")] = None,
    language: Annotated[str | None, typer.Option(help="ru or en (default: the member's).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Render a template as a member would get it."""
    at = now()
    print_json(_read_only(database, lambda uow: messages.preview(uow, template_id, language, member, at)))


@app.command("trigger")
def trigger(
    trigger_id: Annotated[str, typer.Argument(help="The trigger's id.")],
    file: FileArgument,
    database: DatabaseOption = None,
) -> None:
    """Create or replace a trigger: which event sends which template on which channel, to whom, when."""
    try:
        given = _read(file, TriggerIn)
    except LoyaltyError as error:
        fail(error)
    made = trigger_of(trigger_id, given)
    saved = _write(database, lambda uow: messages.save_trigger(uow, made, now()))
    out.print(f"Saved trigger {saved['trigger_id']}: {saved['event']} -> {saved['channel']} {saved['template_id']}")


@app.command("triggers")
def triggers(database: DatabaseOption = None) -> None:
    """List the triggers."""
    print_json(_read_only(database, messages.list_triggers))
