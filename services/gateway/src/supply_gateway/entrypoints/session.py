"""Browser sessions: tokens in httpOnly cookies, a CSRF token, and reading credentials off a request."""

from __future__ import annotations

import secrets
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from supply_common.forwarded import client_address as forwarded_client
from supply_gateway.config import GatewaySettings
from supply_gateway.service_layer.callers import Caller, Credentials, TokenPair

ACCESS_COOKIE = "sg_access"
REFRESH_COOKIE = "sg_refresh"
CSRF_COOKIE = "sg_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def client_address(request: Request, settings: GatewaySettings) -> str:
    """The caller's address: the peer, or with `TRUST_FORWARDED_FOR` the address the trusted hops in
    front recorded (never an entry the client wrote itself)."""
    peer = request.client.host if request.client else "unknown"
    if not settings.trust_forwarded_for:
        return peer
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), settings.proxies)


def credentials(request: Request, settings: GatewaySettings, csrf_submitted: str | None = None) -> Credentials:
    """What the request brings. Only a Bearer `Authorization` counts; another scheme (the Basic
    credentials of a proxy in front, say) is not ours and leaves the browser session to the cookies."""
    authorization = request.headers.get("authorization")
    bearer = None
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            bearer = value.strip()
    return Credentials(
        client_address=client_address(request, settings),
        user_agent=request.headers.get("user-agent", ""),
        bearer=bearer,
        access_cookie=request.cookies.get(ACCESS_COOKIE),
        refresh_cookie=request.cookies.get(REFRESH_COOKIE),
        csrf_cookie=request.cookies.get(CSRF_COOKIE),
        csrf_submitted=csrf_submitted if csrf_submitted is not None else request.headers.get(CSRF_HEADER),
    )


def _secure(request: Request, settings: GatewaySettings) -> bool:
    return settings.cookie_secure or request.url.scheme == "https"


_SAME_SITE: tuple[tuple[str, Literal["lax", "strict"]], ...] = ((ACCESS_COOKIE, "lax"), (REFRESH_COOKIE, "strict"))
"""The refresh token goes only with requests from the site itself; the access token also with a
link followed from elsewhere, so that the page it opens is signed in."""


def set_tokens(response: Response, request: Request, settings: GatewaySettings, pair: TokenPair) -> None:
    secure = _secure(request, settings)
    sent = {
        ACCESS_COOKIE: (pair.access_token, pair.expires_in),
        REFRESH_COOKIE: (pair.refresh_token, settings.refresh_cookie_max_age_s),
    }
    for name, samesite in _SAME_SITE:
        value, max_age = sent[name]
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, secure=secure, samesite=samesite)


def clear_tokens(response: Response, request: Request, settings: GatewaySettings) -> None:
    secure = _secure(request, settings)
    for name, samesite in _SAME_SITE:
        response.delete_cookie(name, path="/", httponly=True, secure=secure, samesite=samesite)


def apply_session(response: Response, request: Request, settings: GatewaySettings, caller: Caller) -> None:
    """Carry a refreshed session to the browser, or end one that could not be refreshed."""
    if caller.new_tokens is not None:
        set_tokens(response, request, settings, caller.new_tokens)
    elif caller.session_ended:
        clear_tokens(response, request, settings)


def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's CSRF token, and whether it is new (then it must be set as a cookie)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 16 <= len(existing) <= 128:
        return existing, False
    return secrets.token_urlsafe(32), True


def set_csrf(response: Response, request: Request, settings: GatewaySettings, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, path="/", httponly=True, secure=_secure(request, settings), samesite="strict"
    )
