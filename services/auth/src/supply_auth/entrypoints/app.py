"""The auth HTTP app. (No `from __future__ import annotations`: FastAPI must see the dependencies.)"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from supply_auth.adapters.keys import InvalidToken
from supply_auth.bootstrap import Auth, bootstrap
from supply_auth.config import AuthSettings
from supply_auth.entrypoints.schemas import (
    REGISTERED,
    CreateUserIn,
    JwksOut,
    LoginIn,
    RefreshIn,
    RegisteredOut,
    RegisterIn,
    SetPasswordIn,
    StaffUserOut,
    TokenOut,
    UserOut,
    UserPageOut,
    UserPatch,
)
from supply_auth.service_layer import errors
from supply_auth.service_layer.accounts import TokenPair
from supply_common.db import ping
from supply_common.forwarded import TrustedProxies
from supply_common.forwarded import client_address as forwarded_client
from supply_common.identity import Role
from supply_common.problems import FieldError, ProblemError
from supply_common.web import ReadinessCheck, create_app, problem_response

log = logging.getLogger(__name__)

LOGINS = Counter("auth_logins_total", "Login attempts by outcome.", ["outcome"])
BEARER = HTTPBearer(auto_error=False, description="An access token from POST /login or POST /refresh.")
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

_PROBLEMS: Mapping[type[Exception], Callable[[Exception], ProblemError]] = {
    errors.EmailTaken: lambda _: ProblemError(
        409, "Email unavailable", "An account cannot be created with this email."
    ),
    errors.InvalidCredentials: lambda _: ProblemError(401, "Login failed", "The email or password is wrong."),
    errors.InvalidPasswordLink: lambda _: ProblemError(
        400,
        "Link not valid",
        "The link is unknown, used already, replaced by a newer one or expired. Register again with the same"
        " email to get a new link.",
        errors=[FieldError(field="token", reason="unknown, used, replaced or expired")],
    ),
    errors.Throttled: lambda e: ProblemError(
        429,
        "Too many attempts",
        "Too many failed logins; wait before trying again.",
        headers={"Retry-After": str(e.retry_after_s)},  # type: ignore[attr-defined]
    ),
    errors.InvalidRefreshToken: lambda _: ProblemError(
        401, "Invalid refresh token", "The refresh token is unknown, expired, used or revoked; log in again."
    ),
    errors.NotAuthenticated: lambda _: ProblemError(401, "Not signed in", "Sign in again.", headers=WWW_AUTHENTICATE),
    errors.Forbidden: lambda _: ProblemError(403, "Forbidden", "Your role may not do this."),
    errors.UserNotFound: lambda _: ProblemError(404, "Not found", "No such user."),
    errors.LastSeniorManager: lambda _: ProblemError(
        409, "Last senior manager", "The last active senior manager cannot be demoted or disabled."
    ),
    errors.InvalidInput: lambda e: ProblemError(
        422,
        "Invalid request",
        "; ".join(f"{x.field}: {x.reason}" for x in e.errors),  # type: ignore[attr-defined]
        errors=[FieldError(field=x.field, reason=x.reason) for x in e.errors],  # type: ignore[attr-defined]
    ),
}


def client_address(request: Request, trusted_proxies: TrustedProxies) -> str:
    """The caller's address; behind a trusted proxy (the gateway), the entry it appended."""
    peer = request.client.host if request.client else "unknown"
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), trusted_proxies)


def make_router(auth: Auth) -> APIRouter:
    router = APIRouter()
    accounts = auth.accounts
    trusted = TrustedProxies(auth.settings.auth_trusted_proxies)

    def claims(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> Mapping[str, Any]:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ProblemError(
                401,
                "Not signed in",
                "Send an access token: Authorization: Bearer <token>.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            return auth.tokens.verify(credentials.credentials)
        except InvalidToken as exc:
            log.info("token refused", extra={"event": "token.refused", "reason": str(exc)[:120]})
            raise ProblemError(
                401, "Invalid token", "The access token is invalid or expired.", headers=WWW_AUTHENTICATE
            ) from None

    def senior_management(token: Annotated[Mapping[str, Any], Depends(claims)]) -> Mapping[str, Any]:
        if token["role"] != "senior_management":
            raise ProblemError(403, "Forbidden", "Only senior management may manage users.")
        return token

    def pair(tokens: TokenPair) -> TokenOut:
        return TokenOut(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            token_type=tokens.token_type,
            expires_in=tokens.expires_in,
        )

    @router.post("/register", status_code=202, response_model=RegisteredOut, tags=["accounts"])
    def register(body: RegisterIn) -> RegisteredOut:
        """Ask for a customer account with an email and a name; the role is always `customer` (staff
        accounts are made by senior management through `POST /users`). No password: the email gets a
        link to a page where whoever reads it chooses the password (`POST /verify-email`), and until
        then nobody can sign in. A `password` field is refused (422). Every request that passes the
        input checks gets the same 202, whether or not the email has an account: what happens next
        arrives in its inbox. A registration for an email whose account has no password yet replaces
        its name, and its link replaces the earlier one. The owner of a confirmed account is only told
        of the attempt."""
        accounts.register(email=body.email, name=body.name)
        return RegisteredOut(detail=REGISTERED)

    @router.post("/verify-email", response_model=TokenOut, tags=["accounts"])
    def verify_email(body: SetPasswordIn) -> TokenOut:
        """Set the account's password with the token of the link we mailed to its email: this
        confirms the email and signs in (the answer is a token pair, as from `POST /login`). It is
        the only way a registered account gets a password. A token works once, only while it is the
        account's newest, and for `AUTH_EMAIL_CONFIRMATION_TTL_S` (24 hours); any other token gets
        400 naming `token`. A password the policy refuses gets 422 naming `password`, and the link
        still works."""
        return pair(accounts.set_password(body.token, body.password))

    @router.post("/login", response_model=TokenOut, tags=["tokens"])
    def login(body: LoginIn, request: Request) -> TokenOut:
        """Exchange email and password for an access token (at most 5 minutes) and a refresh token.
        A wrong email, a wrong password and an account whose password has not been set yet through
        the mailed link get the same answer; repeated failures get 429."""
        try:
            tokens = accounts.login(email=body.email, password=body.password, client=client_address(request, trusted))
        except errors.Throttled:
            LOGINS.labels("throttled").inc()
            raise
        except errors.InvalidCredentials:
            LOGINS.labels("failed").inc()
            raise
        LOGINS.labels("succeeded").inc()
        return pair(tokens)

    @router.post("/refresh", response_model=TokenOut, tags=["tokens"])
    def refresh(body: RefreshIn) -> TokenOut:
        """Exchange a refresh token for a new pair; the old refresh token stops working. Presenting a
        refresh token a second time revokes every token of that login."""
        return pair(accounts.refresh(body.refresh_token))

    @router.post("/logout", status_code=204, tags=["tokens"])
    def logout(body: RefreshIn, token: Annotated[Mapping[str, Any], Depends(claims)]) -> Response:
        """Revoke the login the refresh token belongs to."""
        accounts.logout(user_id=token["sub"], refresh_token=body.refresh_token)
        return Response(status_code=204)

    @router.get("/me", response_model=UserOut, tags=["accounts"])
    def me(token: Annotated[Mapping[str, Any], Depends(claims)]) -> UserOut:
        """The signed-in user."""
        return UserOut.of(accounts.me(token["sub"]))

    @router.get("/users", response_model=UserPageOut, tags=["staff"])
    def list_users(
        token: Annotated[Mapping[str, Any], Depends(senior_management)],
        role: Annotated[Role | None, Query()] = None,
        cursor: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{26}$")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> UserPageOut:
        """Users in id (creation) order, optionally of one role. Senior management only."""
        page = accounts.list_users(actor_id=token["sub"], role=role, cursor=cursor, limit=limit)
        return UserPageOut(items=[StaffUserOut.of(u) for u in page.items], next_cursor=page.next_cursor)

    @router.post("/users", status_code=201, response_model=StaffUserOut, tags=["staff"])
    def create_user(
        body: CreateUserIn, token: Annotated[Mapping[str, Any], Depends(senior_management)]
    ) -> StaffUserOut:
        """Create an account with any role. Senior management only."""
        user = accounts.create_user(
            actor_id=token["sub"], email=body.email, password=body.password, name=body.name, role=body.role
        )
        return StaffUserOut.of(user)

    @router.patch("/users/{user_id}", response_model=StaffUserOut, tags=["staff"])
    def change_user(
        user_id: str, body: UserPatch, token: Annotated[Mapping[str, Any], Depends(senior_management)]
    ) -> StaffUserOut:
        """Change a user's role or disable them; either ends their refresh tokens at once. The last
        active senior manager cannot be demoted or disabled. Senior management only."""
        if body.role is None and body.disabled is None:
            raise ProblemError(
                422,
                "Invalid request",
                "Send role or disabled.",
                errors=[FieldError(field="body", reason="send role or disabled")],
            )
        user = accounts.change_user(actor_id=token["sub"], user_id=user_id, role=body.role, disabled=body.disabled)
        return StaffUserOut.of(user)

    @router.get("/.well-known/jwks.json", response_model=JwksOut, tags=["tokens"])
    def jwks(response: Response) -> dict[str, Any]:
        """The public keys that verify access tokens (Ed25519, by `kid`)."""
        response.headers["Cache-Control"] = "public, max-age=60"
        return auth.keys.jwks()

    return router


def build_app(settings: AuthSettings | None = None, auth: Auth | None = None) -> FastAPI:
    """The app, wired by `bootstrap` unless the caller passes its own `Auth`."""
    settings = settings or AuthSettings()
    wired = auth or bootstrap(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if auth is None:
                wired.close()

    async def database() -> None:
        await asyncio.to_thread(ping, wired.engine)

    async def signing_key() -> None:
        wired.keys.signer()

    app = create_app(
        service="auth",
        title="Supply Store auth",
        description="Accounts, roles, login, and the signed access tokens every other service trusts.",
        max_body_bytes=wired.settings.max_body_bytes,
        checks=[ReadinessCheck("database", database), ReadinessCheck("signing_key", signing_key)],
        lifespan=lifespan,
    )
    for exc_type, to_problem in _PROBLEMS.items():
        app.add_exception_handler(exc_type, _handler(to_problem))
    app.include_router(make_router(wired))
    return app


def _handler(to_problem: Callable[[Exception], ProblemError]) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        return problem_response(to_problem(exc), request.url.path)

    return handle
