"""Login, refresh rotation, logout, and the public keys that verify access tokens."""

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import Counter

from supply_auth.entrypoints.deps import Claims, ClientAddress, ContainerDep, SessionsDep
from supply_auth.entrypoints.schemas import JwksOut, LoginIn, RefreshIn, TokenOut
from supply_auth.service_layer import errors
from supply_auth.service_layer.sessions import TokenPair

LOGINS = Counter("auth_logins_total", "Login attempts by outcome.", ["outcome"])

router = APIRouter(tags=["tokens"])


def token_out(tokens: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_type=tokens.token_type,
        expires_in=tokens.expires_in,
    )


@router.post("/login", response_model=TokenOut)
def login(body: LoginIn, sessions: SessionsDep, client: ClientAddress) -> TokenOut:
    """Exchange email and password for an access token (at most 5 minutes) and a refresh token.
    A wrong email, a wrong password and an account whose password has not been set yet through
    the mailed link get the same answer; repeated failures get 429."""
    try:
        tokens = sessions.login(email=body.email, password=body.password, client=client)
    except errors.Throttled:
        LOGINS.labels("throttled").inc()
        raise
    except errors.InvalidCredentials:
        LOGINS.labels("failed").inc()
        raise
    LOGINS.labels("succeeded").inc()
    return token_out(tokens)


@router.post("/refresh", response_model=TokenOut)
def refresh(body: RefreshIn, sessions: SessionsDep) -> TokenOut:
    """Exchange a refresh token for a new pair; the old refresh token stops working. Presenting a
    refresh token a second time revokes every token of that login."""
    return token_out(sessions.refresh(body.refresh_token))


@router.post("/logout", status_code=204)
def logout(body: RefreshIn, token: Claims, sessions: SessionsDep) -> Response:
    """Revoke the login the refresh token belongs to."""
    sessions.logout(user_id=token["sub"], refresh_token=body.refresh_token)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", response_model=JwksOut)
def jwks(response: Response, container: ContainerDep) -> dict[str, Any]:
    """The public keys that verify access tokens (Ed25519, by `kid`)."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return container.keys.jwks()
