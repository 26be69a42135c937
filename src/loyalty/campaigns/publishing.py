"""Publishing a program version: the version itself (program/service.py), then the campaigns and offers kept in
its file, applied to the campaign store in the same transaction (campaigns/service.py). It sits above both so
that the program knows nothing of campaigns, which read the program."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loyalty.campaigns import service as campaigns
from loyalty.campaigns.document import check_kept
from loyalty.program import service as programs
from loyalty.program.model import Program, ProgramVersion
from loyalty.storage.database import UnitOfWork

KEPT_SECTIONS = ("campaigns", "offers")


def program_of(document: dict[str, Any]) -> Program:
    """The program of a file to validate or publish, its kept campaigns and offers checked with it: every problem of
    the file is reported at once, with its path."""
    return programs.program_of(document, sections=(check_kept,))


def publish(uow: UnitOfWork, document: dict[str, Any], effective_from: datetime, now: datetime) -> ProgramVersion:
    """`programs.publish`, then apply the document's campaigns and offers: each runs by its own dates from now on.
    Applying an unchanged definition keeps its revision, so publishing the same document again changes nothing."""
    program_of(document)
    version = programs.publish(uow, document, effective_from, now)
    kept = {section: document[section] for section in KEPT_SECTIONS if document.get(section)}
    if kept:
        campaigns.apply(uow, kept, now)
    return version
