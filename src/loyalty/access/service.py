"""API keys with scopes, and signed member tokens.

A key is `lk_<key id>_<secret>`; only its SHA-256 is stored, so a leaked database does not leak keys (the
secret has 256 bits of entropy, so a plain hash is enough). A member token is `mt_<member>.<expiry>.<hmac>`,
signed with the installation's secret (LOYALTY_SECRET_KEY, else a random one kept in the database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from loyalty.core import limits
from loyalty.core.errors import InvalidInput
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

SCOPES = ("checkout", "admin", "analytics")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scope: str

    def allows(self, scope: str) -> bool:
        """An admin key may do everything; other keys only their own scope."""
        return self.scope == "admin" or self.scope == scope


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(uow: UnitOfWork, name: str, scope: str, now: datetime) -> tuple[ApiKey, str]:
    """A new key; the returned secret is shown once and never stored."""
    if scope not in SCOPES:
        raise InvalidInput.at("scope", f"must be one of {list(SCOPES)}")
    if not name.strip() or len(name) > limits.API_KEY_NAME:
        raise InvalidInput.at("name", f"is required, at most {limits.API_KEY_NAME} characters")
    key_id = secrets.token_hex(8)
    key = f"lk_{key_id}_{secrets.token_urlsafe(32)}"
    uow.conn.execute(
        t.api_keys.insert().values(
            key_id=key_id, name=name.strip(), scope=scope, secret_hash=_digest(key), created_at=now
        )
    )
    return ApiKey(key_id, name.strip(), scope), key


def authenticate(uow: UnitOfWork, key: str) -> ApiKey | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "lk":
        return None
    row = uow.conn.execute(select(t.api_keys).where(t.api_keys.c.key_id == parts[1])).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _digest(key)):
        return None
    return ApiKey(row.key_id, row.name, row.scope)


def revoke_key(uow: UnitOfWork, key_id: str, now: datetime) -> bool:
    return bool(
        uow.conn.execute(
            t.api_keys.update()
            .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    )


def list_keys(uow: UnitOfWork) -> list[dict[str, object]]:
    rows = uow.conn.execute(select(t.api_keys).order_by(t.api_keys.c.created_at))
    return [
        {
            "key_id": r.key_id,
            "name": r.name,
            "scope": r.scope,
            "created_at": r.created_at.isoformat(),
            "revoked": r.revoked_at is not None,
        }
        for r in rows
    ]


def verifying_secret(uow: UnitOfWork) -> bytes | None:
    """The secret member tokens are signed with, or None when no token can have been issued yet. It only reads,
    so a read-only unit of work serves: checking a token never waits for the database's writers."""
    configured = os.environ.get("LOYALTY_SECRET_KEY")
    if configured:
        return configured.encode()
    row = uow.conn.execute(select(t.settings.c.value).where(t.settings.c.name == "member_token_secret")).scalar()
    return str(row).encode() if row is not None else None


def signing_secret(uow: UnitOfWork) -> bytes:
    """The secret to sign member tokens with, generated into the database the first time (so this writes)."""
    existing = verifying_secret(uow)
    if existing is not None:
        return existing
    value = secrets.token_urlsafe(48)
    try:
        with uow.conn.begin_nested():
            uow.conn.execute(t.settings.insert().values(name="member_token_secret", value=value))
    except IntegrityError:  # another process stored one first
        value = uow.conn.execute(
            select(t.settings.c.value).where(t.settings.c.name == "member_token_secret")
        ).scalar_one()
    return str(value).encode()


def _sign(secret: bytes, payload: str) -> str:
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def member_token(secret: bytes, member_id: int, now: datetime, ttl: timedelta) -> tuple[str, datetime]:
    expires = now + ttl
    payload = f"{member_id}.{int(expires.timestamp())}"
    return f"mt_{payload}.{_sign(secret, payload)}", expires


def verify_member_token(secret: bytes, token: str, now: datetime) -> int | None:
    """The member a valid, unexpired token names, else None."""
    if not token.startswith("mt_"):
        return None
    parts = token[3:].split(".")
    # Headers arrive as latin-1 text: anything outside ASCII is a bad token (compare_digest refuses such text).
    if len(parts) != 3 or not token.isascii() or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(secret, payload), parts[2]):
        return None
    if datetime.fromtimestamp(int(parts[1]), UTC) <= now:
        return None
    return int(parts[0])
