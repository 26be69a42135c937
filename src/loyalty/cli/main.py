"""The operator's command line: `loyalty --help`. Commands are thin: they parse arguments, call a use case
and print its result."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import Progress

from loyalty.audit import service as audit_service
from loyalty.campaigns import publishing
from loyalty.checkout import imports
from loyalty.core.errors import InvalidInput, LoyaltyError
from loyalty.core.instants import Zone, parse_instant
from loyalty.ledger import jobs
from loyalty.program import service as programs
from loyalty.storage.database import UnitOfWork, database_url, make_engine

app = typer.Typer(help="Loyalty: a bonus-points program engine.", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
program_app = typer.Typer(help="Program versions: validate and publish documents.", no_args_is_help=True)
members_app = typer.Typer(help="Members.", no_args_is_help=True)
orders_app = typer.Typer(help="Orders.", no_args_is_help=True)
jobs_app = typer.Typer(help="Batch jobs.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
segments_app = typer.Typer(help="Segments: recompute, list, import static lists.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(program_app, name="program")
app.add_typer(members_app, name="members")
app.add_typer(orders_app, name="orders")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")
app.add_typer(segments_app, name="segments")
campaigns_app = typer.Typer(help="Campaigns and personal offers: apply a file, list.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")

out = Console()
err = Console(stderr=True)
DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="Database URL (default: $LOYALTY_DATABASE_URL, else sqlite:///loyalty.db)."),
]


def _now() -> datetime:
    return datetime.now(UTC)


def _instant(value: str, name: str, zone: Zone, day: Literal["start", "end"] = "end") -> datetime:
    """An instant from the command line, read as the API reads it (a bare date is a day in `zone`)."""
    try:
        return parse_instant(value, name, zone=zone, day=day)
    except InvalidInput as error:
        raise typer.BadParameter(error.problems[0].reason, param_hint=name) from None


def _fail(error: LoyaltyError) -> None:
    if isinstance(error, imports.ImportRejected):
        err.print(f"[red]Rejected:[/red] {error}")
        for line_error in error.errors:
            err.print(f"  {line_error}")
    elif isinstance(error, InvalidInput):
        err.print("[red]Invalid:[/red]")
        for problem in error.problems:
            err.print(f"  {problem}")
    else:
        err.print(f"[red]{type(error).__name__}:[/red] {error}")
    raise typer.Exit(2)


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create or migrate the schema to the latest version (before `loyalty serve`, after every upgrade of loyalty)."""
    from loyalty.storage.migrate import upgrade

    upgrade(database)
    out.print(f"Database is up to date: {database_url(database)}")


@program_app.command("validate")
def program_validate(file: Path) -> None:
    """Check a program document (YAML or JSON); list every problem with its field path."""
    try:
        program = publishing.program_of(programs.read_document_file(file))
    except LoyaltyError as error:
        _fail(error)
    out.print(
        f"Valid: {program.name} ({len(program.earning.rules)} earning rules, {len(program.actions)} action bonuses)"
    )
    for name in sorted(program.actions):
        bonus = program.actions[name]
        out.print(f"  action {name}: {bonus.points} points, {bonus.cap_text()}", highlight=False, soft_wrap=True)


@program_app.command("schema")
def program_schema(
    document: Annotated[
        str, typer.Option(help=f"Which document: {' or '.join(publishing.DOCUMENT_SCHEMAS)}.")
    ] = "program",
) -> None:
    """Print the JSON Schema of the program document (or of a campaign definition), for an editor to check and
    complete a document as it is written."""
    try:
        schema = publishing.document_schema(document)
    except LoyaltyError as error:
        _fail(error)
    typer.echo(json.dumps(schema, indent=2, ensure_ascii=False))  # exactly JSON, to be saved to a file


@program_app.command("publish")
def program_publish(
    file: Path,
    effective_from: Annotated[
        str | None,
        typer.Option(
            help="When the version takes effect (default: now): a date is the start of that day in the program's "
            "time zone; a date-time needs its offset."
        ),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Publish a document as a new immutable program version."""
    now = _now()
    try:
        document = programs.read_document_file(file)
        zone = publishing.program_of(document).timezone
        start = _instant(effective_from, "--effective-from", zone, day="start") if effective_from else now
        with UnitOfWork(make_engine(database)) as uow:
            version = publishing.publish(uow, document, start, now)
            uow.commit()
    except LoyaltyError as error:
        _fail(error)
    out.print(f"Published version {version.number}, in force from {version.effective_from.isoformat()}")


@program_app.command("list")
def program_list(database: DatabaseOption = None) -> None:
    """List the published versions."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        _print_json(programs.list_versions(uow))


def _with_progress(total: int, label: str) -> tuple[Progress, Any]:
    progress = Progress(console=err, transient=False)
    task = progress.add_task(label, total=total)
    return progress, lambda n: progress.advance(task, n)


@members_app.command("import")
def members_import(file: Path, database: DatabaseOption = None) -> None:
    """Import members from a CSV (columns: see README). All or nothing; a second import changes nothing."""
    now, engine = _now(), make_engine(database)
    try:
        rows = imports.read_members(file, now, programs.lazy_time_zone(engine, now))
        progress, step = _with_progress(len(rows), "members")
        with progress:
            summary = imports.import_members(engine, file, now, step)
    except LoyaltyError as error:
        _fail(error)
    out.print(f"Members: {summary.created} created, {summary.unchanged} already there")


@orders_app.command("import")
def orders_import(
    file: Path,
    format: Annotated[str, typer.Option("--format", help="generic (CSV) or cdnow.")] = "generic",
    create_members: Annotated[bool, typer.Option(help="Register unknown members at their first order.")] = False,
    rate: Annotated[
        str, typer.Option(help="Multiply amounts by this rate (cdnow: dollars to the program currency).")
    ] = "1",
    redeem: Annotated[bool, typer.Option(help="Members pay with as many points as each order allows.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Import purchase history. All or nothing; a second import changes nothing."""
    now = _now()
    try:
        if format == "cdnow":
            requests = imports.read_cdnow(file, now, Decimal(rate))
            create_members = True
        elif format == "generic":
            requests = imports.read_orders(file, now, programs.lazy_time_zone(make_engine(database), now))
        else:
            raise typer.BadParameter("must be generic or cdnow", param_hint="--format")
        progress, step = _with_progress(len(requests), "orders")
        with progress:
            summary = imports.import_orders(
                make_engine(database), requests, now, create_members=create_members, redeem=redeem, progress=step
            )
    except LoyaltyError as error:
        _fail(error)
    out.print(
        f"Orders: {summary.created} imported, {summary.unchanged} already there"
        + (f", {summary.details['members_created']} members registered" if summary.details else "")
    )


@jobs_app.command("run")
def jobs_run(
    job: Annotated[
        str,
        typer.Argument(
            help="activate (pending points become spendable), expire (burn points), tiers (re-evaluate tiers), birthdays (birthday gifts), referrals (reward referrers) or win-back (points for inactive members)."
        ),
    ],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Run as of this date (default: now).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Run a batch job as of a date."""
    now = _now()
    engine = make_engine(database)
    at = _instant(as_of, "--as-of", programs.lazy_time_zone(engine, now)) if as_of else now
    if job == "birthdays":
        from loyalty.engagement import birthdays

        gifts = birthdays.grant_gifts(engine, at, now)
        out.print(f"birthdays as of {at.isoformat()}: {gifts['points']} points to {gifts['members']} members")
        return
    if job == "win-back":
        from loyalty.engagement import winback

        won = winback.run(engine, at, now)
        out.print(f"win-back as of {at.isoformat()}: {won['points']} points to {won['granted']} members")
        return
    if job == "referrals":
        from loyalty.referrals import service as referrals

        rewarded = referrals.run(engine, at, now)
        out.print(f"referrals as of {at.isoformat()}: {rewarded} rewarded")
        return
    if job == "tiers":
        from loyalty.tiers import service as tiers

        counts = tiers.reevaluate(engine, at, now)
        out.print(
            f"tiers as of {at.isoformat()}: {counts['members']} members, {counts['upgraded']} up, "
            f"{counts['downgraded']} down"
        )
        return
    if job == "activate":
        result = jobs.activate(engine, at, now)
    elif job == "expire":
        result = jobs.expire(engine, at, now)
    else:
        raise typer.BadParameter("must be activate, expire, tiers, birthdays, referrals or win-back", param_hint="JOB")
    out.print(
        f"{job} as of {at.isoformat()}: {result['points']} points in "
        + (f"{result['lots']} lots" if job == "activate" else f"{result['accounts']} accounts")
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who uses the key, e.g. web-checkout.")],
    scope: Annotated[str, typer.Option(help="checkout, admin or analytics.")],
    database: DatabaseOption = None,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    from loyalty.access import service as access
    from loyalty.storage.migrate import upgrade

    upgrade(database)
    try:
        with UnitOfWork(make_engine(database)) as uow:
            key, secret = access.create_key(uow, name, scope, _now())
            uow.commit()
    except LoyaltyError as error:
        _fail(error)
    err.print(f"Created key {key.key_id} ({key.name}, scope {key.scope}). Store it now; it is not shown again:")
    print(secret)


@keys_app.command("list")
def keys_list(database: DatabaseOption = None) -> None:
    """List API keys (never their secrets)."""
    from loyalty.access import service as access

    with UnitOfWork(make_engine(database), read_only=True) as uow:
        _print_json(access.list_keys(uow))


@keys_app.command("revoke")
def keys_revoke(key_id: str, database: DatabaseOption = None) -> None:
    """Revoke an API key by its id."""
    from loyalty.access import service as access

    with UnitOfWork(make_engine(database)) as uow:
        revoked = access.revoke_key(uow, key_id, _now())
        uow.commit()
    if not revoked:
        err.print(f"No active key {key_id}")
        raise typer.Exit(2)
    out.print(f"Revoked {key_id}")


@segments_app.command("recompute")
def segments_recompute(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Compute as of this date (default: now).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Recompute every rule segment's members as of a date (static segments stay as uploaded)."""
    from loyalty.segments import service as segments

    now, engine = _now(), make_engine(database)
    at = _instant(as_of, "--as-of", programs.lazy_time_zone(engine, now)) if as_of else now
    try:
        counts = segments.recompute(engine, at)
    except LoyaltyError as error:
        _fail(error)
    out.print(
        f"segments as of {at.isoformat()}: {counts['segments']} recomputed, {counts['members']} memberships"
        + (f", {counts['skipped']} changed meanwhile" if counts["skipped"] else "")
    )


@segments_app.command("list")
def segments_list(database: DatabaseOption = None) -> None:
    """List the segments with their member counts."""
    from loyalty.segments import service as segments

    with UnitOfWork(make_engine(database), read_only=True) as uow:
        _print_json(segments.list_segments(uow))


@segments_app.command("import-static")
def segments_import_static(
    segment_id: Annotated[str, typer.Argument(help="The static segment's id (created if new).")],
    file: Annotated[Path, typer.Argument(help="CSV with a header of member_id, phone, email, card, external_id.")],
    name: Annotated[str | None, typer.Option(help="The segment's name (default: its id, or unchanged).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create or replace a static segment from a CSV of member references. All or nothing: every unknown
    reference is listed with its line and nothing is stored."""
    from loyalty.segments import lists as segment_lists
    from loyalty.segments import service as segments

    try:
        references = segment_lists.read_references(file)
        with UnitOfWork(make_engine(database)) as uow:
            segment = segments.import_static(uow, segment_id, name, references, _now())
            uow.commit()
    except LoyaltyError as error:
        _fail(error)
    out.print(f"Segment {segment['segment_id']} ({segment['name']}): {segment['member_count']} members")


@campaigns_app.command("apply")
def campaigns_apply(
    file: Annotated[Path, typer.Argument(help="YAML or JSON with `campaigns:` and/or `offers:` lists.")],
    database: DatabaseOption = None,
) -> None:
    """Create or change the campaigns and offers a file defines, all or nothing; every problem is listed with its
    place in the file. A changed definition becomes a new revision; an unchanged one is left as it is."""
    from loyalty.campaigns import service as campaigns

    try:
        document = programs.read_document_file(file)
        with UnitOfWork(make_engine(database)) as uow:
            outcome = campaigns.apply(uow, document, _now())
            uow.commit()
    except LoyaltyError as error:
        _fail(error)
    for what, ids in outcome.items():
        out.print(f"{what}: {', '.join(ids) if ids else '-'}")


@campaigns_app.command("list")
def campaigns_list(
    offers: Annotated[bool, typer.Option("--offers", help="List the personal offers instead.")] = False,
    database: DatabaseOption = None,
) -> None:
    """List the campaigns (or offers) with their revision, points given and budget left."""
    from loyalty.campaigns import service as campaigns

    with UnitOfWork(make_engine(database), read_only=True) as uow:
        _print_json(campaigns.list_campaigns(uow, personal=offers))


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")] = 1,
    database: DatabaseOption = None,
) -> None:
    """Serve the HTTP API. The database must be at this version's schema: run `loyalty db upgrade` first."""
    import os
    import tempfile

    import uvicorn
    from rich.markup import escape
    from sqlalchemy.exc import SQLAlchemyError

    from loyalty.storage.migrate import SchemaOutdated, check_current

    url = database_url(database)
    try:
        check_current(url)
    except SchemaOutdated as error:
        err.print(f"[red]Not serving:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except SQLAlchemyError as error:
        err.print(f"[red]Not serving:[/red] cannot read the database: {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None
    if not os.environ.get("LOYALTY_SECRET_KEY"):
        err.print(
            "[yellow]Warning:[/yellow] LOYALTY_SECRET_KEY is not set: member tokens are signed with a secret kept in "
            "the database, so anyone who reads the database can forge them. Set it in production (README, "
            "'In production').",
            soft_wrap=True,
        )
    os.environ["LOYALTY_DATABASE_URL"] = url
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="loyalty-metrics-")
    err.print(f"Serving http://{host}:{port} on {url} with {workers} worker(s); docs at /docs")
    uvicorn.run("loyalty.http.asgi:app", host=host, port=port, workers=workers, access_log=False, log_level="warning")


@app.command("openapi")
def openapi(output: Annotated[Path, typer.Option(help="Where to write the document.")] = Path("openapi.json")) -> None:
    """Write the OpenAPI document of the HTTP API."""
    from loyalty.http.app import openapi_document

    output.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    out.print(f"Wrote {output}")


@app.command("audit")
def audit(database: DatabaseOption = None) -> None:
    """Check every ledger invariant; exit 1 and name the account on any violation."""
    with UnitOfWork(make_engine(database), read_only=True) as uow:
        violations, counts = audit_service.run(uow)
    checked = ", ".join(f"{v} {k}" for k, v in counts.items())
    if violations:
        for violation in violations:
            err.print(f"[red]VIOLATION[/red] {violation}")
        err.print(f"{len(violations)} violation(s) in {checked}")
        raise typer.Exit(1)
    out.print(f"Ledger OK: {checked} checked")


@app.command("summary")
def summary_report(
    as_of: Annotated[str | None, typer.Option("--as-of", help="The totals as they stood then (default: now).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Print the program's totals: members, orders, points issued, spent, expired and outstanding."""
    from loyalty.ledger.summary import summary

    now = _now()
    engine = make_engine(database)
    at = _instant(as_of, "--as-of", programs.lazy_time_zone(engine, now)) if as_of else now
    with UnitOfWork(engine, read_only=True) as uow:
        _print_json(summary(uow, at))


@app.command("demo")
def demo(database: DatabaseOption = None) -> None:
    """Publish the sample program, import the CDNOW purchase history, run the jobs and print the totals."""
    from loyalty.ledger.summary import summary
    from loyalty.storage.migrate import upgrade

    now = _now()
    upgrade(database)  # the demo sets up its own database; a server never migrates (see `serve`)
    engine = make_engine(database)
    demo_files = files("loyalty.demo")
    document = programs.read_document(demo_files.joinpath("program.yaml").read_text(encoding="utf-8"), "program.yaml")
    with UnitOfWork(engine) as uow:
        version = publishing.publish(uow, document, datetime(1997, 1, 1, tzinfo=UTC), now)
        uow.commit()
    out.print(f"Program version {version.number}: {version.program.name}")
    requests = imports.read_cdnow(Path(str(demo_files.joinpath("cdnow_sample.txt"))), now, Decimal(100))
    progress, step = _with_progress(len(requests), "CDNOW orders")
    try:
        with progress:
            result = imports.import_orders(engine, requests, now, create_members=True, redeem=True, progress=step)
    except LoyaltyError as error:
        _fail(error)
    last = max(r.occurred_at for _, r, _ in requests)
    end = last.replace(hour=23, minute=59, second=59)
    jobs.activate(engine, end, now)
    expired = jobs.expire(engine, end, now)
    out.print(
        f"Imported {result.created} orders ({result.unchanged} already there); "
        f"expired {expired['points']} points as of {end.date()}"
    )
    with UnitOfWork(engine, read_only=True) as uow:
        report = summary(uow, end)
        violations, _ = audit_service.run(uow)
    _print_json(report)
    out.print("Ledger audit: " + ("OK" if not violations else f"{len(violations)} violations"))
    if violations:
        raise typer.Exit(1)
