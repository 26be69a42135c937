"""Access: the member token that lets a member's app read that member's own data."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loyalty.http.schemas import Instant, Strict


class MemberToken(BaseModel):
    token: str
    expires_at: Instant

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"token": "mt_1.1795000000.k3Jx...", "expires_at": "2026-11-23T10:00:00+00:00"}]
        }
    )


class TokenRequest(Strict):
    ttl_seconds: int = Field(default=3600, ge=60, le=30 * 24 * 3600)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ttl_seconds": 3600}]})
