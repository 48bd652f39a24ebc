"""The caller's identity as the gateway forwards it, and role checks for routes.

The gateway verifies the token, drops any identity headers the client sent, and forwards
`X-User-Id`, `X-User-Role`, `X-User-Email`. Services check roles again from these headers, so a
route is never open just because a request bypassed the gateway's table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
    headers = request.headers
    user_id = headers.get("x-user-id")
    role = headers.get("x-user-role")
    if not user_id or not role or role not in ROLES:
        raise ProblemError(401, "Not signed in", "This route needs a signed-in user.")
    return Identity(user_id=user_id, role=role, email=headers.get("x-user-email", ""))  # type: ignore[arg-type]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Identity]]:
    """A dependency that lets only the given roles through (403 otherwise).

    The checks are coroutines on purpose: they do no I/O, and FastAPI sends a plain function
    dependency to the thread pool, two hand-offs per request for a dictionary lookup."""
    allowed = frozenset(roles)

    async def dependency(identity: Annotated[Identity, Depends(current_identity)]) -> Identity:
        if identity.role not in allowed:
            raise ProblemError(403, "Forbidden", "Your role may not do this.")
        return identity

    dependency.__doc__ = f"Allowed roles: {', '.join(sorted(allowed))}."
    return dependency
