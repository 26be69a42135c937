"""The scheduled jobs, by name: what each does, what it counts and how to run it. The command line (`loyalty jobs
run <name>`, `loyalty jobs list`), the HTTP API (`POST /v1/jobs/<name>`) and a scheduler all read this one table,
so a job added here is runnable everywhere at once.

Every job takes the same parameters: `as_of`, the instant it runs as of (its business time: what is due, which
program version applies), and `now`, the wall-clock instant it runs at (when its entries are recorded). Running a
job again as of the same instant changes nothing. A job answers with counts, named by its `counts`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from loyalty.engagement import birthdays, winback
from loyalty.ledger import jobs as ledger_jobs
from loyalty.referrals import service as referrals
from loyalty.segments import service as segments
from loyalty.tiers import service as tiers

Runner = Callable[[Engine, datetime, datetime], dict[str, int]]


@dataclass(frozen=True)
class Count:
    """One number a job answers with."""

    name: str
    description: str | None
    example: int  # a plausible value, shown in the API's documentation


@dataclass(frozen=True)
class Job:
    name: str
    does: str  # completes "The `<name>` job ..."
    counts: tuple[Count, ...]
    said: str  # how the command line reports a run: a format string over the counts
    run: Runner

    def report(self, result: dict[str, int]) -> str:
        return self.said.format(**result)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "activate",
            "records the lots whose pending period ended",
            (
                Count("lots", "Lots whose pending period ended, now recorded as activated", 42),
                Count("points", "Points in those lots", 12500),
            ),
            "{points} points in {lots} lots",
            # Activation records the instant the lots became spendable, as of which the job runs.
            ledger_jobs.activate,
        ),
        Job(
            "expire",
            "writes off expired points",
            (Count("accounts", "Accounts with points written off", 31), Count("points", "Points written off", 12500)),
            "{points} points in {accounts} accounts",
            ledger_jobs.expire,
        ),
        Job(
            "expiry-warnings",
            f"announces points expiring within {ledger_jobs.EXPIRY_NOTICE_DAYS} days (once per account and expiry)",
            (
                Count("accounts", "Accounts with points expiring soon", 31),
                Count("points", "Points that will expire", 12500),
            ),
            "{points} points in {accounts} accounts",
            ledger_jobs.warn_expiring,
        ),
        Job(
            "tiers",
            "re-evaluates every member's tier (downgrades happen only here)",
            (
                Count("members", "Members re-evaluated", 2357),
                Count("upgraded", None, 12),
                Count("downgraded", None, 3),
                Count("held", "Members an experiment holds out of the program, left at their tier", 0),
            ),
            "{members} members, {upgraded} up, {downgraded} down, {held} held out",
            tiers.reevaluate,
        ),
        Job(
            "birthdays",
            "grants the birthday gift to the members whose birthday it is",
            (
                Count("members", "Members who got the birthday gift", 7),
                Count("points", "Points given", 3500),
                Count("withheld", "Members whose gift an experiment withheld (recorded as such)", 0),
            ),
            "{points} points to {members} members, {withheld} withheld",
            birthdays.grant_gifts,
        ),
        Job(
            "referrals",
            "rewards the referrers whose referred member's first order is past its return window",
            (Count("rewarded", "Referrals whose referrer was rewarded", 4),),
            "{rewarded} rewarded",
            lambda engine, as_of, now: {"rewarded": referrals.run(engine, as_of, now)},
        ),
        Job(
            "win-back",
            "grants the program's win-back points to the members inactive long enough",
            (
                Count("granted", "Members who got win-back points", 12),
                Count("points", "Points given", 6000),
                Count("withheld", "Members due whom an experiment holds out of the program", 0),
            ),
            "{points} points to {granted} members, {withheld} withheld",
            winback.run,
        ),
        Job(
            "segments",
            "recomputes every rule segment's members (static segments stay as uploaded)",
            (
                Count("segments", "Rule segments recomputed", 10),
                Count("members", "Memberships written", 5120),
                Count("skipped", "Segments changed meanwhile (their change recomputed them)", 0),
            ),
            "{segments} recomputed, {members} memberships, {skipped} changed meanwhile",
            # Membership is stamped with `as_of`, the instant it is computed for.
            lambda engine, as_of, _now: segments.recompute(engine, as_of),
        ),
    )
}
