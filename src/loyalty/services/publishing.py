"""Publishing a program version: the version itself (services/programs.py), then the campaigns and offers kept in
its document, applied to the campaign store in the same transaction (services/campaigns.py). It sits above both so
that the program knows nothing of campaigns, which read the program."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loyalty.domain.program import ProgramVersion
from loyalty.services import campaigns, programs
from loyalty.storage.database import UnitOfWork

KEPT_SECTIONS = ("campaigns", "offers")


def publish(uow: UnitOfWork, document: dict[str, Any], effective_from: datetime, now: datetime) -> ProgramVersion:
    """`programs.publish`, then apply the document's campaigns and offers: each runs by its own dates from now on.
    Applying an unchanged definition keeps its revision, so publishing the same document again changes nothing."""
    version = programs.publish(uow, document, effective_from, now)
    kept = {section: document[section] for section in KEPT_SECTIONS if document.get(section)}
    if kept:
        campaigns.apply(uow, kept, now)
    return version
