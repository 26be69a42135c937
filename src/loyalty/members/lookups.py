"""A member named by the id in a route's path (`/v1/members/{id}/...`), for the routers of every area that serve
one: an unknown id there is 404 (not found), where a use case given a member id in a body answers 422."""

from __future__ import annotations

from typing import Any

from loyalty.core.errors import InvalidInput, NotFound
from loyalty.members import service
from loyalty.storage.database import UnitOfWork


def require_member(uow: UnitOfWork, member_id: int) -> None:
    """NotFound unless the member exists: one read by primary key, for routes that show another area's data."""
    if service.find(uow, "member_id", str(member_id)) is None:
        raise NotFound(f"no member {member_id}")


def member_profile(uow: UnitOfWork, member_id: int) -> dict[str, Any]:
    """The member's profile; NotFound for an unknown member."""
    try:
        return service.profile(uow, member_id)
    except InvalidInput:  # the only one profile() raises: no such member
        raise NotFound(f"no member {member_id}") from None
