"""The responses stored under an API key's Idempotency-Key, so that a retried request is answered, not run again.

The record is written in the transaction of the effect it answers for: both commit or neither does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: Any


def stored_response(uow: UnitOfWork, key_id: str, idempotency_key: str) -> StoredResponse | None:
    """What the request first sent with this key answered, if it committed."""
    row = uow.conn.execute(
        select(
            t.idempotency_keys.c.request_hash, t.idempotency_keys.c.status_code, t.idempotency_keys.c.response
        ).where(t.idempotency_keys.c.key_id == key_id, t.idempotency_keys.c.idempotency_key == idempotency_key)
    ).first()
    return StoredResponse(row.request_hash, row.status_code, row.response) if row is not None else None


def store_response(
    uow: UnitOfWork,
    key_id: str,
    idempotency_key: str,
    *,
    method: str,
    path: str,
    request_hash: str,
    status_code: int,
    response: Any,
    now: datetime,
) -> None:
    """Raises IntegrityError when a concurrent request stored a response under the same key first."""
    uow.conn.execute(
        t.idempotency_keys.insert().values(
            key_id=key_id,
            idempotency_key=idempotency_key,
            method=method,
            path=path,
            request_hash=request_hash,
            status_code=status_code,
            response=response,
            created_at=now,
        )
    )
