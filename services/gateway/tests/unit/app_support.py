"""The whole gateway app in process, with the upstreams answered by `httpx.MockTransport` handlers,
and what the tests of its API and pages share."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from supply_gateway.bootstrap import Container, bootstrap
from supply_gateway.config import GatewaySettings
from supply_gateway.entrypoints.app import create_app
from supply_gateway.service_layer.gateway import Gateway

from .httpx_transport import HttpxTransport
from .tokens_support import Signer, jwks

SIGNER = Signer()
UPSTREAM_NAMES = ("auth", "sales-writer", "projector")


class Upstreams:
    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.down: set[str] = set()
        self.slow: set[str] = set()
        self.handlers: dict[str, Callable[[httpx.Request], httpx.Response]] = {}

    def transport(self, name: str) -> HttpxTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            if name in self.down:
                raise httpx.ConnectError("connection refused", request=request)
            if name in self.slow:
                raise httpx.ReadTimeout("slow", request=request)
            if request.url.path == "/.well-known/jwks.json":
                return httpx.Response(200, json=jwks(SIGNER))
            handler = self.handlers.get(f"{request.method} {name}{request.url.path}")
            if handler:
                return handler(request)
            return httpx.Response(200, json={"upstream": name, "path": request.url.path}, headers={"etag": '"4"'})

        return HttpxTransport(httpx.MockTransport(handle))


def problem_reply(status: int, title: str, **members: Any) -> Callable[[httpx.Request], httpx.Response]:
    """An upstream handler that answers with a problem (`application/problem+json`)."""
    body = {"title": title, "status": status, **members}
    return lambda request: httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


GATEWAY_CREDENTIAL = "gateway-service-credential"
"""What the gateway's credential file holds in these tests (the upstreams are fakes: any text does)."""


def credential_file() -> Path:
    path = Path(tempfile.mkdtemp(prefix="gateway-credential-")) / "gateway.jwt"
    path.write_text(GATEWAY_CREDENTIAL + "\n")
    return path


def wired(settings: GatewaySettings, upstreams: Upstreams) -> Container:
    if settings.service_token_file is None:
        settings = settings.model_copy(update={"service_token_file": credential_file()})
    return bootstrap(settings, transports={name: upstreams.transport(name) for name in UPSTREAM_NAMES})


@asynccontextmanager
async def running(settings: GatewaySettings) -> AsyncIterator[tuple[httpx.AsyncClient, Upstreams, Gateway]]:
    upstreams = Upstreams()
    container = wired(settings, upstreams)
    app = create_app(container)
    core = container.gateway
    await core.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield client, upstreams, core
    finally:
        await core.aclose()


def bearer(role: str, **claims: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(role, **claims)}"}


class Auth:
    """Auth's refresh tokens as far as the gateway sees them: each works once, a used one presented
    again revokes the login (every token of it), a logout revokes them."""

    def __init__(self, upstreams: Upstreams, role: str = "customer") -> None:
        self.valid = {"r1"}
        self.used: set[str] = set()
        self.asked: list[str] = []
        self.role = role
        self.issued = 1
        upstreams.handlers["POST auth/refresh"] = self.refresh
        upstreams.handlers["POST auth/logout"] = self.logout

    def refresh(self, request: httpx.Request) -> httpx.Response:
        token = json.loads(request.content)["refresh_token"]
        self.asked.append(token)
        if token in self.used:
            self.valid.clear()
        if token not in self.valid:
            return httpx.Response(401, json={"title": "Invalid refresh token", "status": 401})
        self.valid.discard(token)
        self.used.add(token)
        self.issued += 1
        self.valid.add(f"r{self.issued}")
        pair = {"access_token": SIGNER.token(self.role), "refresh_token": f"r{self.issued}", "expires_in": 300}
        return httpx.Response(200, json=pair)

    def logout(self, request: httpx.Request) -> httpx.Response:
        self.valid.clear()
        return httpx.Response(204)


async def with_cookies(
    client: httpx.AsyncClient, method: str, path: str, cookies: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """One request with exactly these cookies (none kept from earlier answers)."""
    client.cookies.clear()
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return await client.request(method, path, headers={**kwargs.pop("headers", {}), "cookie": header}, **kwargs)


def logs_in_as(upstreams: Upstreams, role: str, refresh: str = "r1") -> None:
    """Auth answers every login with a token pair for `role`."""
    pair = {"access_token": SIGNER.token(role), "refresh_token": refresh, "expires_in": 300}
    upstreams.handlers["POST auth/login"] = lambda request: httpx.Response(200, json=pair)


async def submit_login(client: httpx.AsyncClient, next_page: str, **fields: str) -> httpx.Response:
    """The sign-in form sent (with a CSRF cookie that matches its field) to come back to `next_page`."""
    csrf = "c" * 32
    data = {"email": "w@x.io", "password": "pw", "csrf_token": csrf, "next": next_page, **fields}
    return await with_cookies(client, "POST", "/login", {"sg_csrf": csrf}, data=data)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    found = {}
    for line in response.headers.get_list("set-cookie"):
        name, _, rest = line.partition("=")
        found[name] = rest.split(";")[0].strip('"')
    return found


def expired() -> dict[str, str]:
    """A browser session whose access token has expired, with the refresh token `r1`."""
    return {"sg_access": SIGNER.token("customer", exp=int(time.time()) - 100), "sg_refresh": "r1"}


def cleared(response: httpx.Response) -> list[str]:
    return [
        c
        for c in response.headers.get_list("set-cookie")
        if c.startswith(("sg_access", "sg_refresh")) and "Max-Age=0" in c
    ]


STAFF_USERS = [
    {
        "id": "u1",
        "email": "boss@example.com",
        "name": "Boss",
        "role": "senior_management",
        "disabled": False,
        "email_confirmed": True,
        "last_login_at": "2026-12-06T09:30:00Z",
    },
    {
        "id": "u2",
        "email": "w@example.com",
        "name": "W",
        "role": "technical_worker",
        "disabled": False,
        "email_confirmed": True,
        "last_login_at": None,
    },
    {
        "id": "u3",
        "email": "new@example.com",
        "name": "New",
        "role": "technical_worker",
        "disabled": False,
        "email_confirmed": False,
        "last_login_at": None,
    },
    {
        "id": "c1",
        "email": "cat@example.com",
        "name": "Cat",
        "role": "customer",
        "disabled": False,
        "email_confirmed": False,
        "last_login_at": None,
    },
]


def staff_directory(upstreams: Upstreams) -> list[dict[str, Any]]:
    """Auth's users as the staff page sees them: listed by role, each PATCH recorded; `u1` is the last
    senior manager (its PATCH is refused), the others change."""
    patched: list[dict[str, Any]] = []

    def listing(request: httpx.Request) -> httpx.Response:
        roles = request.url.params.get_list("role")
        found = [u for u in STAFF_USERS if not roles or u["role"] in roles]
        limit = int(request.url.params.get("limit", "50"))
        return httpx.Response(
            200, json={"items": found[:limit], "next_cursor": None, "next_offset": None, "total": len(found)}
        )

    upstreams.handlers["GET auth/users"] = listing

    def patch_last_manager(request: httpx.Request) -> httpx.Response:
        patched.append(json.loads(request.content))
        return httpx.Response(
            409,
            json={"title": "Last senior manager", "status": 409, "detail": "The last active senior manager ..."},
            headers={"content-type": "application/problem+json"},
        )

    def patch(request: httpx.Request) -> httpx.Response:
        change = json.loads(request.content)
        patched.append(change)
        user = next(u for u in STAFF_USERS if request.url.path.endswith("/" + u["id"]))
        return httpx.Response(200, json={**user, **change})

    upstreams.handlers["PATCH auth/users/u1"] = patch_last_manager
    for user in STAFF_USERS[1:]:
        upstreams.handlers[f"PATCH auth/users/{user['id']}"] = patch
    return patched
