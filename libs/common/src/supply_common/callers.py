"""Route dependencies that say who calls: a user, from the access token the request carries (the
gateway forwards the user's own token), or a service, from a service credential with the route's
scope. Nothing else names a caller: headers such as `X-User-*` mean nothing to any service.

A service may also vouch for something a request says beside a user's token (the gateway, for the
client's address at auth): its credential then comes in `X-Service-Authorization`, since
`Authorization` carries the user's token (`vouching_service`).

The verifier is the app's `state.tokens` (a `supply_common.tokens.TokenVerifier`), set by the
service's app factory from its composition root.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Final

from fastapi import Depends, Request

from supply_common.identity import Identity, Role
from supply_common.problems import ProblemError
from supply_common.tokens import (
    SCOPES,
    InvalidToken,
    KeysUnavailable,
    RevocationsUnknown,
    ServiceCaller,
    TokenExpired,
    TokenVerifier,
)

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="supply-store"'}
SERVICE_AUTHORIZATION: Final = "x-service-authorization"
"""The header of a service credential sent beside a user's `Authorization`: `Bearer <credential>`."""

log = logging.getLogger(__name__)


def bearer_token(headers: Mapping[str, str], header: str = "authorization") -> str | None:
    """The token of a `<header>: Bearer ...` header (by default `Authorization`), if there is one."""
    value = headers.get(header)
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def not_signed_in(detail: str = "This route needs a signed-in user's access token.") -> ProblemError:
    return ProblemError(401, "Not signed in", detail, headers=dict(CHALLENGE))


def keys_unavailable() -> ProblemError:
    return ProblemError(
        503,
        "Service unavailable",
        "Tokens cannot be checked right now; try again shortly.",
        headers={"Retry-After": "5"},
    )


async def identify(verifier: TokenVerifier, headers: Mapping[str, str]) -> Identity:
    """The user whose access token `headers` carry, or the problem (401, 503) that refuses the request."""
    token = bearer_token(headers)
    if token is None:
        raise not_signed_in()
    try:
        return await verifier.verify(token)
    except TokenExpired as exc:
        raise not_signed_in("The access token has expired.") from exc
    except InvalidToken as exc:
        raise not_signed_in(f"The access token is not valid ({exc}).") from exc
    except (KeysUnavailable, RevocationsUnknown) as exc:
        raise keys_unavailable() from exc


def verifier_of(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.tokens
    return verifier


async def current_identity(request: Request) -> Identity:
    return await identify(verifier_of(request), request.headers)


class RoleCheck:
    """A dependency that lets only the given roles through (403 otherwise; 401 without a valid token).

    The check is a coroutine on purpose: it does no blocking I/O, and FastAPI sends a plain function
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


class ScopeCheck:
    """A dependency for an operator route: a service credential carrying `scope` (401 without a valid
    credential, a user's token included; 403 when the credential lacks the scope)."""

    def __init__(self, scope: str) -> None:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
        self.scope = scope

    async def __call__(self, request: Request) -> ServiceCaller:
        token = bearer_token(request.headers)
        if token is None:
            raise ProblemError(
                401, "No service credential", "This route needs a service credential.", headers=dict(CHALLENGE)
            )
        try:
            caller = await verifier_of(request).verify_service(token)
        except InvalidToken as exc:
            raise ProblemError(
                401,
                "No service credential",
                f"This route needs a service credential; the token given is not one ({exc}).",
                headers=dict(CHALLENGE),
            ) from exc
        except KeysUnavailable as exc:
            raise keys_unavailable() from exc
        if self.scope not in caller.scopes:
            raise ProblemError(403, "Forbidden", f"This credential lacks the scope {self.scope}.")
        return caller

    def __repr__(self) -> str:
        return f"ScopeCheck({self.scope})"


def require_scope(scope: str) -> ScopeCheck:
    """The dependency for an operator route that needs `scope`."""
    return ScopeCheck(scope)


async def vouching_service(verifier: TokenVerifier, headers: Mapping[str, str], scope: str) -> ServiceCaller | None:
    """The service whose credential in `X-Service-Authorization` carries `scope`, or None: no such
    header, or one holding anything else (a user's token, a credential without the scope, expired,
    signed by another key) vouches for nothing, and the request is taken as from an anonymous peer.
    A header that is present but refused is logged: a real caller's credential may have gone stale."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    token = bearer_token(headers, SERVICE_AUTHORIZATION)
    if token is None:
        return None
    try:
        caller = await verifier.verify_service(token)
    except (InvalidToken, KeysUnavailable) as exc:
        log.warning("service credential refused", extra={"event": "service_credential.refused", "reason": str(exc)})
        return None
    if scope not in caller.scopes:
        log.warning(
            "service credential without the scope",
            extra={"event": "service_credential.refused", "subject": caller.subject, "scope": scope},
        )
        return None
    return caller
