"""What the routes get from FastAPI's dependency injection: the `Container` that `bootstrap` built
(kept in `app.state`), its use cases, the caller's verified token and the client's address. (No `from __future__
import annotations`: FastAPI must see the dependencies.)"""

import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from supply_auth.adapters.keys import InvalidToken
from supply_auth.bootstrap import Container
from supply_auth.entrypoints.problems import WWW_AUTHENTICATE
from supply_auth.service_layer.accounts import Accounts
from supply_auth.service_layer.sessions import Sessions
from supply_auth.service_layer.staff import Staff
from supply_common.callers import vouching_service
from supply_common.forwarded import VOUCHED, client_address
from supply_common.problems import ProblemError

log = logging.getLogger(__name__)

BEARER = HTTPBearer(auto_error=False, description="An access token from POST /login or POST /refresh.")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_accounts(container: ContainerDep) -> Accounts:
    return container.accounts


def get_sessions(container: ContainerDep) -> Sessions:
    return container.sessions


def get_staff(container: ContainerDep) -> Staff:
    return container.staff


CLIENT_ADDRESS_SCOPE = "auth:client-address"


async def get_client_address(request: Request, container: ContainerDep) -> str:
    """The address a sign-in is counted under: the peer's own, unless the peer proves it is the
    gateway (a service credential with `auth:client-address` in `X-Service-Authorization`), whose
    `X-Forwarded-For` entry then names the client. Anyone else's `X-Forwarded-For` means nothing,
    from whatever address it comes."""
    peer = request.client.host if request.client else "unknown"
    if await vouching_service(container.callers, request.headers, CLIENT_ADDRESS_SCOPE) is None:
        return peer
    return client_address(peer, request.headers.getlist("x-forwarded-for"), VOUCHED)


def get_claims(
    container: ContainerDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> Mapping[str, Any]:
    """The verified claims of the bearer token; 401 without one or with one that does not verify."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(
            401,
            "Not signed in",
            "Send an access token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return container.tokens.verify(credentials.credentials)
    except InvalidToken as exc:
        log.info("token refused", extra={"event": "token.refused", "reason": str(exc)[:120]})
        raise ProblemError(
            401, "Invalid token", "The access token is invalid or expired.", headers=WWW_AUTHENTICATE
        ) from None


Claims = Annotated[Mapping[str, Any], Depends(get_claims)]


def get_senior_management(token: Claims) -> Mapping[str, Any]:
    """The claims of a senior manager's token; 403 for any other role (the use case checks the
    database again: the role may have changed since the token was issued)."""
    if token["role"] != "senior_management":
        raise ProblemError(403, "Forbidden", "Only senior management may manage users.")
    return token


AccountsDep = Annotated[Accounts, Depends(get_accounts)]
SessionsDep = Annotated[Sessions, Depends(get_sessions)]
StaffDep = Annotated[Staff, Depends(get_staff)]
ClientAddress = Annotated[str, Depends(get_client_address)]
SeniorManager = Annotated[Mapping[str, Any], Depends(get_senior_management)]
