"""The caller's identity as the gateway forwards it, and role checks for routes.

The gateway verifies the token, drops any identity headers the client sent, and forwards
`X-User-Id`, `X-User-Role`, `X-User-Email`. Services check roles again from these headers, so a
route is never open just because a request bypassed the gateway's table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Final, Literal, get_args

from fastapi import Depends, Request

from supply_common.problems import ProblemError

Role = Literal["customer", "technical_worker", "senior_management"]
ROLES: Final[tuple[str, ...]] = get_args(Role)


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: Role
    email: str


async def current_identity(request: Request) -> Identity:
    """Read from the headers directly: FastAPI's per-parameter header handling cost more than the
    rest of the check, and these headers are not part of any route's documented interface."""
    return identity_from(request.headers)


def identity_from(headers: Mapping[str, str]) -> Identity:
    """The caller named by the forwarded headers, or 401."""
    user_id = headers.get("x-user-id")
    role = headers.get("x-user-role")
    if not user_id or not role or role not in ROLES:
        raise ProblemError(401, "Not signed in", "This route needs a signed-in user.")
    return Identity(user_id=user_id, role=role, email=headers.get("x-user-email", ""))  # type: ignore[arg-type]


class RoleCheck:
    """A dependency that lets only the given roles through (403 otherwise).

    The check is a coroutine on purpose: it does no I/O, and FastAPI sends a plain function
    dependency to the thread pool, two hand-offs per request for a set lookup. `roles` is public so
    that a lane in front of a route (see the sales-writer's create) applies the same policy."""

    def __init__(self, *roles: Role) -> None:
        self.roles: frozenset[str] = frozenset(roles)

    def allows(self, identity: Identity) -> bool:
        return identity.role in self.roles

    async def __call__(self, identity: Annotated[Identity, Depends(current_identity)]) -> Identity:
        if not self.allows(identity):
            raise ProblemError(403, "Forbidden", "Your role may not do this.")
        return identity

    def __repr__(self) -> str:
        return f"RoleCheck({', '.join(sorted(self.roles))})"


def require_roles(*roles: Role) -> RoleCheck:
    """The dependency for a route open to `roles` only."""
    return RoleCheck(*roles)
