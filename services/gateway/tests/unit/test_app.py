"""The whole gateway app in process, with the upstreams answered by `httpx.MockTransport` handlers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from supply_gateway.bootstrap import bootstrap
from supply_gateway.config import GatewaySettings
from supply_gateway.entrypoints.app import build_app
from supply_gateway.service_layer.gateway import Gateway

from .httpx_transport import HttpxTransport
from .tokens_support import Signer, jwks, unsigned

SIGNER = Signer()


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


@asynccontextmanager
async def running(settings: GatewaySettings) -> AsyncIterator[tuple[httpx.AsyncClient, Upstreams, Gateway]]:
    upstreams = Upstreams()
    core = bootstrap(
        settings, transports={name: upstreams.transport(name) for name in ("auth", "sales-writer", "projector")}
    )
    app = build_app(settings, core)
    await core.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield client, upstreams, core
    finally:
        await core.aclose()


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[httpx.AsyncClient, Upstreams]]:
    async with running(GatewaySettings(breaker_failures=3, rate_credentials_burst=3)) as (client, upstreams, _):
        yield client, upstreams


def bearer(role: str, **claims: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(role, **claims)}"}


async def test_identity_headers_come_from_the_token_not_the_client(gateway) -> None:
    client, upstreams = gateway
    response = await client.get(
        "/api/sales",
        headers={
            **bearer("technical_worker", sub="9", email="w@x.io"),
            "X-User-Role": "senior_management",
            "X-User-Id": "1",
            "X-Request-ID": "req-123",
        },
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    sent = upstreams.seen[-1]
    assert (sent.headers["x-user-id"], sent.headers["x-user-role"], sent.headers["x-user-email"]) == (
        "9",
        "technical_worker",
        "w@x.io",
    )
    assert sent.headers["x-request-id"] == "req-123"
    assert "authorization" not in sent.headers, "only auth gets the bearer token"


async def test_query_and_etag_pass_through(gateway) -> None:
    client, upstreams = gateway
    response = await client.get(
        "/api/sales/5bd761dcae323e45a93ccfe8/current?x=1%202", headers=bearer("technical_worker")
    )
    assert response.headers["etag"] == '"4"'
    assert str(upstreams.seen[-1].url).endswith("/sales/5bd761dcae323e45a93ccfe8?x=1%202")


async def test_refusals(gateway) -> None:
    client, _ = gateway
    assert (await client.get("/api/sales")).status_code == 401
    assert (await client.get("/api/sales", headers=bearer("customer"))).status_code == 403
    assert (await client.get("/api/nope", headers=bearer("customer"))).status_code == 404
    assert (await client.get("/internal/outbox/stats")).status_code == 404
    forged = unsigned(
        {"sub": "1", "role": "senior_management", "iss": "supply-store-auth", "aud": "supply-store", "exp": 9999999999}
    )
    response = await client.get("/api/users", headers={"authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_upstream_down_is_a_503_and_opens_the_circuit(gateway) -> None:
    client, upstreams = gateway
    upstreams.down.add("projector")
    for _ in range(2):
        response = await client.get("/api/sales", headers=bearer("senior_management"))
        assert response.status_code == 503
    calls = len(upstreams.seen)
    response = await client.get("/api/sales", headers=bearer("senior_management"))
    assert response.status_code == 503
    assert "circuit open" in response.json()["detail"]
    assert len(upstreams.seen) == calls, "an open circuit does not call the upstream"
    assert int(response.headers["retry-after"]) >= 1


async def test_only_gets_are_retried(gateway) -> None:
    client, upstreams = gateway
    upstreams.down.add("sales-writer")
    await client.get("/api/sales/abc/current", headers=bearer("technical_worker"))
    assert sum(1 for r in upstreams.seen if r.url.path == "/sales/abc") == 2
    upstreams.seen.clear()
    await client.put("/api/sales/abc", headers=bearer("technical_worker"), json={})
    assert sum(1 for r in upstreams.seen if r.url.path == "/sales/abc") == 1


async def test_a_slow_upstream_is_a_504(gateway) -> None:
    client, upstreams = gateway
    upstreams.slow.add("projector")
    response = await client.get("/api/me/sales", headers=bearer("customer"))
    assert response.status_code == 504


async def test_login_is_rate_limited_per_address(gateway) -> None:
    client, _ = gateway
    statuses = [(await client.post("/api/auth/login", json={})).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429


async def test_security_headers_are_on_every_response(gateway) -> None:
    client, _ = gateway
    for path in ("/login", "/api/nope", "/static/app.css", "/livez"):
        response = await client.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"


async def test_the_browser_session_uses_cookies_and_csrf(gateway) -> None:
    client, upstreams = gateway
    pair = {
        "access_token": SIGNER.token("technical_worker"),
        "refresh_token": "r1",
        "token_type": "bearer",
        "expires_in": 300,
    }
    upstreams.handlers["POST auth/login"] = lambda request: httpx.Response(200, json=pair)
    page = await client.get("/login")
    csrf = client.cookies["sg_csrf"]
    assert f'value="{csrf}"' in page.text
    refused = await client.post("/login", data={"email": "a@b.c", "password": "x", "csrf_token": "wrong"})
    assert refused.status_code == 403
    response = await client.post("/login", data={"email": "a@b.c", "password": "x", "csrf_token": csrf})
    assert response.status_code == 303
    set_cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("sg_access=") and "HttpOnly" in c and "SameSite=lax" in c for c in set_cookies)
    assert any(c.startswith("sg_refresh=") and "HttpOnly" in c and "SameSite=strict" in c for c in set_cookies)
    assert (await client.get("/api/sales")).status_code == 200
    assert (await client.post("/api/sales", json={})).status_code == 403, "cookie session without CSRF header"
    assert (await client.post("/api/sales", json={}, headers={"x-csrf-token": csrf})).status_code == 200
    assert (await client.get("/sales/new")).status_code == 200
    assert (await client.get("/purchases")).status_code == 403


async def test_an_expired_session_is_refreshed_on_the_way(gateway) -> None:
    client, upstreams = gateway
    fresh = SIGNER.token("customer")
    refreshes: list[Any] = []

    def refresh(request: httpx.Request) -> httpx.Response:
        refreshes.append(json.loads(request.content))
        return httpx.Response(200, json={"access_token": fresh, "refresh_token": "r2", "expires_in": 300})

    upstreams.handlers["POST auth/refresh"] = refresh
    client.cookies.set("sg_access", SIGNER.token("customer", exp=int(time.time()) - 100))
    client.cookies.set("sg_refresh", "r1")
    response = await client.get("/api/me/sales")
    assert response.status_code == 200
    assert refreshes == [{"refresh_token": "r1"}]
    assert any(c.startswith(f"sg_access={fresh}") for c in response.headers.get_list("set-cookie"))


async def test_replication_is_one_object(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["GET sales-writer/internal/outbox/stats"] = lambda r: httpx.Response(
        200, json={"backlog": 3, "oldest_unpublished_age_s": 1.5, "relay": "ok", "last_published_at": None}
    )
    upstreams.handlers["GET projector/freshness"] = lambda r: httpx.Response(
        200,
        json={
            "partitions": [
                {
                    "partition": 0,
                    "committed_offset": 5,
                    "end_offset": 7,
                    "lag": 2,
                    "last_occurred_at": "2024-01-01T00:00:00.000Z",
                },
                {"partition": 1, "committed_offset": 1, "end_offset": 1, "lag": 0, "last_occurred_at": None},
            ],
            "dlq_count": 1,
            "quarantined": 0,
        },
    )
    body = (await client.get("/api/ops/replication", headers=bearer("technical_worker"))).json()
    assert body["status"] == "ok"
    assert body["outbox"]["backlog"] == 3
    assert body["consumer"]["lag"] == 2
    assert body["dlq_count"] == 1
    assert body["freshness"]["last_applied_occurred_at"] == "2024-01-01T00:00:00.000Z"
    upstreams.down.add("projector")
    body = (await client.get("/api/ops/replication", headers=bearer("technical_worker"))).json()
    assert body["status"] == "partial"
    assert body["errors"][0]["source"] == "projector"


async def test_openapi_lists_public_paths_with_roles(gateway) -> None:
    client, _ = gateway
    document = (await client.get("/openapi.json")).json()
    assert document["paths"]["/api/users"]["post"]["x-roles"] == "senior_management"
    assert "senior_management" in document["paths"]["/api/users"]["post"]["description"]
    assert "/api/sales/{id}" in document["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/api/ops/replication" in docs.text


async def test_bodies_over_the_limit_are_refused(gateway) -> None:
    client, _ = gateway
    response = await client.post("/api/sales", content=b"x" * 1_100_000, headers=bearer("technical_worker"))
    assert response.status_code == 413


async def test_large_bodies_and_answers_pass_through_whole(gateway) -> None:
    client, upstreams = gateway
    upload = bytes(range(256)) * (2 * 1024 * 1024 // 256 + 7)
    answer = b"[" + b"0," * 400_000 + b"0]"
    received: list[bytes] = []

    def import_sales(request: httpx.Request) -> httpx.Response:
        received.append(request.content)
        return httpx.Response(200, content=answer, headers={"content-type": "application/json"})

    upstreams.handlers["POST sales-writer/sales/import"] = import_sales
    response = await client.post(
        "/api/sales/import",
        content=upload,
        headers={**bearer("technical_worker"), "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200
    assert received == [upload]
    assert response.content == answer
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]


async def test_an_upstream_cookie_is_not_kept_for_later_callers(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["GET projector/me/sales"] = lambda request: httpx.Response(
        200, json=[], headers={"set-cookie": "upstream-session=abc; Path=/"}
    )
    await client.get("/api/me/sales", headers=bearer("customer"))
    await client.get("/api/me/sales", headers=bearer("customer"))
    assert "cookie" not in upstreams.seen[-1].headers


async def test_methods_outside_the_api_are_405_problems(gateway) -> None:
    client, upstreams = gateway
    for method, path in (("OPTIONS", "/api/sales"), ("POST", "/.well-known/jwks.json")):
        response = await client.request(method, path, headers=bearer("technical_worker"))
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        assert method not in response.headers["allow"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert not upstreams.seen


async def test_cors_covers_the_api_when_configured() -> None:
    upstreams = Upstreams()
    settings = GatewaySettings(cors_origins="https://shop.example")
    core = bootstrap(
        settings, transports={name: upstreams.transport(name) for name in ("auth", "sales-writer", "projector")}
    )
    await core.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(settings, core)), base_url="http://gw"
        ) as client:
            preflight = await client.options(
                "/api/sales",
                headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
            response = await client.post(
                "/api/sales", json={}, headers={**bearer("technical_worker"), "origin": "https://shop.example"}
            )
            assert response.status_code == 200
            assert response.headers["access-control-allow-origin"] == "https://shop.example"
            assert "x-request-id" in response.headers["access-control-expose-headers"]
            foreign = await client.get("/api/sales", headers={"origin": "https://evil.example"})
            assert "access-control-allow-origin" not in foreign.headers
    finally:
        await core.aclose()


async def test_a_chunked_body_over_the_limit_is_a_413_not_an_error(gateway, caplog) -> None:
    client, upstreams = gateway

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    response = await client.post("/api/sales", content=chunks(), headers=bearer("technical_worker"))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert not [r for r in upstreams.seen if r.url.path == "/sales"]


async def test_an_unexpected_failure_is_a_500_problem(gateway, monkeypatch, caplog) -> None:
    client, _ = gateway

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("supply_gateway.entrypoints.api.credentials", broken)
    response = await client.get("/api/sales", headers=bearer("technical_worker"))
    assert response.status_code == 500
    assert response.json()["title"] == "Internal error"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert any(r.levelname == "ERROR" and "unhandled" in r.getMessage() for r in caplog.records)


class Auth:
    """Auth's refresh tokens as far as the gateway sees them: each works once, a logout revokes them."""

    def __init__(self, upstreams: Upstreams, role: str = "customer") -> None:
        self.valid = {"r1"}
        self.asked: list[str] = []
        self.role = role
        self.issued = 1
        upstreams.handlers["POST auth/refresh"] = self.refresh
        upstreams.handlers["POST auth/logout"] = self.logout

    def refresh(self, request: httpx.Request) -> httpx.Response:
        token = json.loads(request.content)["refresh_token"]
        self.asked.append(token)
        if token not in self.valid:
            return httpx.Response(401, json={"title": "Invalid refresh token", "status": 401})
        self.valid.discard(token)
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


def set_cookies(response: httpx.Response) -> dict[str, str]:
    found = {}
    for line in response.headers.get_list("set-cookie"):
        name, _, rest = line.partition("=")
        found[name] = rest.split(";")[0].strip('"')
    return found


def expired() -> dict[str, str]:
    """A browser session whose access token has expired, with the refresh token `r1`."""
    return {"sg_access": SIGNER.token("customer", exp=int(time.time()) - 100), "sg_refresh": "r1"}


async def test_a_used_refresh_token_gets_nothing_after_the_session_logged_out(gateway) -> None:
    client, upstreams = gateway
    auth = Auth(upstreams)
    first = await with_cookies(client, "GET", "/api/me/sales", expired())
    assert first.status_code == 200
    assert auth.asked == ["r1"]
    session = set_cookies(first)
    assert session["sg_refresh"] == "r2"

    parallel = await with_cookies(client, "GET", "/api/me/sales", expired())
    assert parallel.status_code == 200, "a request of the same page load shares the refresh"
    assert auth.asked == ["r1"]

    csrf = "c" * 32
    session = {"sg_access": session["sg_access"], "sg_refresh": session["sg_refresh"], "sg_csrf": csrf}
    assert (await with_cookies(client, "POST", "/logout", session, data={"csrf_token": csrf})).status_code == 303

    for path in ("/api/auth/me", "/api/me/sales"):
        replayed = await with_cookies(client, "GET", path, {"sg_refresh": "r1"})
        assert replayed.status_code == 401, path
        assert set_cookies(replayed).get("sg_access", "") == "", "no access token for a used refresh token"
    assert auth.asked == ["r1", "r1", "r1"], "after the logout auth decides about the used token"


async def test_an_api_logout_also_ends_the_shared_refresh(gateway) -> None:
    client, upstreams = gateway
    auth = Auth(upstreams)
    first = await with_cookies(client, "GET", "/api/me/sales", expired())
    access = set_cookies(first)["sg_access"]
    logout = await with_cookies(
        client,
        "POST",
        "/api/auth/logout",
        {},
        json={"refresh_token": "r2"},
        headers={"authorization": f"Bearer {access}"},
    )
    assert logout.status_code == 204
    assert (await with_cookies(client, "GET", "/api/me/sales", expired())).status_code == 401
    assert auth.asked == ["r1", "r1"]


async def test_a_refresh_is_shared_only_for_a_short_grace() -> None:
    now = [1000.0]
    async with running(GatewaySettings()) as (client, upstreams, core):
        core.clock = lambda: now[0]
        auth = Auth(upstreams)
        assert (await with_cookies(client, "GET", "/api/me/sales", expired())).status_code == 200
        now[0] += core.refresh_grace_s / 2
        assert (await with_cookies(client, "GET", "/api/me/sales", expired())).status_code == 200
        assert auth.asked == ["r1"]
        assert core.refresh_grace_s <= 5
        now[0] += core.refresh_grace_s
        assert (await with_cookies(client, "GET", "/api/me/sales", expired())).status_code == 401
        assert auth.asked == ["r1", "r1"]


async def test_a_client_cannot_pick_its_address_behind_a_proxy() -> None:
    settings = GatewaySettings(trust_forwarded_for=True, rate_credentials_burst=3)
    async with running(settings) as (client, upstreams, _):
        statuses = []
        for attempt in range(4):
            response = await client.post(
                "/api/auth/login", json={}, headers={"x-forwarded-for": f"10.9.9.{attempt}, 203.0.113.5"}
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 429], "a made-up first entry does not earn a new budget"
        assert upstreams.seen[-1].headers["x-forwarded-for"] == "203.0.113.5"


async def test_listed_proxies_are_walked_past_from_the_right() -> None:
    settings = GatewaySettings(trust_forwarded_for=True, trusted_proxies="127.0.0.1, 10.0.0.0/8")
    async with running(settings) as (client, upstreams, _):
        await client.post("/api/auth/login", json={}, headers={"x-forwarded-for": "6.6.6.6, 203.0.113.5, 10.1.1.1"})
        assert upstreams.seen[-1].headers["x-forwarded-for"] == "203.0.113.5"


async def test_answers_name_public_urls_not_upstream_paths(gateway) -> None:
    client, upstreams = gateway
    sale = "5bd761dcae323e45a93ccfe8"
    upstreams.handlers["POST sales-writer/sales"] = lambda r: httpx.Response(
        201, json={"id": sale}, headers={"location": f"/sales/{sale}", "content-location": f"/sales/{sale}"}
    )
    created = await client.post("/api/sales", json={}, headers=bearer("technical_worker"))
    assert created.status_code == 201
    assert created.headers["location"] == f"/api/sales/{sale}"
    assert created.headers["content-location"] == f"/api/sales/{sale}"

    def problem(status: int, instance: str) -> Callable[[httpx.Request], httpx.Response]:
        body = {"type": "about:blank", "title": "Nope", "status": status, "detail": "no", "instance": instance}
        return lambda r: httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})

    upstreams.handlers[f"PUT sales-writer/sales/{sale}"] = problem(412, f"/sales/{sale}")
    upstreams.handlers["PATCH auth/users/7"] = problem(409, "/users/7")
    upstreams.handlers["GET projector/analytics/summary"] = problem(422, "/internal/somewhere")
    answers = [
        await client.put(f"/api/sales/{sale}", json={}, headers=bearer("technical_worker")),
        await client.patch("/api/users/7", json={}, headers=bearer("senior_management")),
        await client.get("/api/analytics/summary", headers=bearer("senior_management")),
    ]
    assert [a.json()["instance"] for a in answers] == [f"/api/sales/{sale}", "/api/users/7", "/api/analytics/summary"]
    assert [a.status_code for a in answers] == [412, 409, 422]
    assert all(a.json()["title"] == "Nope" for a in answers)
    assert all(int(a.headers["content-length"]) == len(a.content) for a in answers)

    upstreams.handlers["POST sales-writer/sales"] = lambda r: httpx.Response(
        201, json={}, headers={"location": "http://elsewhere:9/internal/x"}
    )
    created = await client.post("/api/sales", json={}, headers=bearer("technical_worker"))
    assert "location" not in created.headers, "a location with no public route is left out"


async def test_another_authorization_scheme_leaves_the_browser_session_alone(gateway) -> None:
    client, _ = gateway
    session = {"sg_access": SIGNER.token("technical_worker"), "sg_refresh": "r1"}
    basic = {"authorization": "Basic dXNlcjpwYXNz"}
    page = await with_cookies(client, "GET", "/sales/new", session, headers=basic)
    assert page.status_code == 200
    assert not [c for c in page.headers.get_list("set-cookie") if c.startswith(("sg_access", "sg_refresh"))]
    api = await with_cookies(client, "GET", "/api/sales", session, headers=basic)
    assert api.status_code == 200
    assert (await with_cookies(client, "GET", "/api/sales", {}, headers=basic)).status_code == 401
    assert (
        await with_cookies(client, "GET", "/api/sales", {}, headers={"authorization": "Bearer "})
    ).status_code == 401


def cleared(response: httpx.Response) -> list[str]:
    return [
        c
        for c in response.headers.get_list("set-cookie")
        if c.startswith(("sg_access", "sg_refresh")) and "Max-Age=0" in c
    ]


async def test_an_auth_outage_does_not_end_the_browser_session(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["POST auth/refresh"] = lambda r: httpx.Response(
        503, json={"title": "Service unavailable", "status": 503}, headers={"retry-after": "7"}
    )
    page = await with_cookies(client, "GET", "/purchases", expired())
    assert page.status_code == 503
    assert "still signed in" in page.text
    assert not cleared(page)
    api = await with_cookies(client, "GET", "/api/me/sales", expired())
    assert api.status_code == 503
    assert api.headers["content-type"] == "application/problem+json"
    assert api.headers["retry-after"] == "7"
    assert not cleared(api)

    upstreams.down.add("auth")
    for path in ("/purchases", "/api/me/sales"):
        response = await with_cookies(client, "GET", path, expired())
        assert response.status_code == 503, path
        assert not cleared(response)
    upstreams.down.clear()

    upstreams.handlers["POST auth/refresh"] = lambda r: httpx.Response(401, json={"status": 401})
    ended = await with_cookies(client, "GET", "/purchases", expired())
    assert ended.status_code == 303
    assert len(cleared(ended)) == 2, "a refused refresh token ends the session"


async def test_the_replication_panel_answers_401_when_the_session_ended(gateway) -> None:
    client, upstreams = gateway
    panel = await with_cookies(client, "GET", "/ops/panel", {})
    assert panel.status_code == 401
    assert "location" not in panel.headers
    refused = await with_cookies(client, "GET", "/ops/panel", {"sg_access": SIGNER.token("customer")})
    assert refused.status_code == 403

    pair = {"access_token": SIGNER.token("technical_worker"), "refresh_token": "r1", "expires_in": 300}
    upstreams.handlers["POST auth/login"] = lambda request: httpx.Response(200, json=pair)
    csrf = "c" * 32
    for target, lands in (("/ops/panel", "/ops"), ("/ops/panel?x=1", "/ops"), ("/sales?store=Denver", None)):
        signed_in = await with_cookies(
            client,
            "POST",
            "/login",
            {"sg_csrf": csrf},
            data={"email": "w@x.io", "password": "pw", "csrf_token": csrf, "next": target},
        )
        assert signed_in.headers["location"] == (lands or target)


def staff_directory(upstreams: Upstreams) -> list[dict[str, Any]]:
    patched: list[dict[str, Any]] = []
    users = [
        {"id": "u1", "email": "boss@example.com", "name": "Boss", "role": "senior_management", "disabled": False},
        {"id": "u2", "email": "w@example.com", "name": "W", "role": "technical_worker", "disabled": False},
    ]
    upstreams.handlers["GET auth/users"] = lambda r: httpx.Response(200, json={"items": users, "next_cursor": None})

    def patch(request: httpx.Request) -> httpx.Response:
        patched.append(json.loads(request.content))
        return httpx.Response(
            409,
            json={"title": "Last senior manager", "status": 409, "detail": "The last active senior manager ..."},
            headers={"content-type": "application/problem+json"},
        )

    upstreams.handlers["PATCH auth/users/u1"] = patch
    return patched


async def test_a_manager_confirms_a_change_of_their_own_role_and_a_refusal_keeps_the_staff_page(gateway) -> None:
    client, upstreams = gateway
    patched = staff_directory(upstreams)
    csrf = "c" * 32
    session = {"sg_access": SIGNER.token("senior_management", sub="u1"), "sg_csrf": csrf}
    form = {"csrf_token": csrf, "action": "role", "role": "technical_worker", "email": "boss@example.com"}
    asked = await with_cookies(client, "POST", "/staff/u1", session, data=form)
    assert asked.status_code == 200
    assert 'id="confirm-own-role"' in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert patched == [], "nothing changes before the manager confirms"

    refused = await with_cookies(client, "POST", "/staff/u1", session, data={**form, "confirm": "yes"})
    assert patched == [{"role": "technical_worker"}]
    assert refused.status_code == 409
    assert 'id="users"' in refused.text, "the staff page again, not a dead end"
    assert "boss@example.com was not changed" in refused.text
    assert "Make another account a senior manager first" in refused.text


async def test_a_dashboard_period_the_read_api_refuses_keeps_the_date_pickers(gateway) -> None:
    client, upstreams = gateway
    session = {"sg_access": SIGNER.token("senior_management")}
    reversed_period = await with_cookies(client, "GET", "/dashboard?date_from=2020-01-01&date_to=2019-01-01", session)
    assert reversed_period.status_code == 422
    assert 'name="date_from"' in reversed_period.text
    assert 'value="2020-01-01"' in reversed_period.text
    assert 'data-field="date_to"' in reversed_period.text
    assert not [r for r in upstreams.seen if r.url.path.startswith("/analytics")]

    upstreams.handlers["GET projector/analytics/summary"] = lambda r: httpx.Response(
        422,
        json={"title": "Invalid", "status": 422, "errors": [{"field": "query.date_from", "reason": "too old"}]},
        headers={"content-type": "application/problem+json"},
    )
    refused = await with_cookies(client, "GET", "/dashboard?date_from=0001-01-01", session)
    assert refused.status_code == 422
    assert 'data-field="date_from"' in refused.text
    assert "too old" in refused.text


async def test_a_form_sent_after_the_session_ended_says_nothing_was_saved(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["POST auth/refresh"] = lambda r: httpx.Response(401, json={"status": 401})
    csrf = "c" * 32
    stale = {"sg_refresh": "revoked", "sg_csrf": csrf}
    opened = await with_cookies(client, "GET", "/staff", stale)
    assert opened.headers["location"] == "/login?next=%2Fstaff&reason=ended"
    assert "Your session ended" in (await with_cookies(client, "GET", opened.headers["location"], {})).text

    sent = await with_cookies(client, "POST", "/staff/u2", stale, data={"csrf_token": csrf, "action": "disable"})
    assert sent.headers["location"] == "/login?next=%2Fstaff&reason=unsaved"
    assert "changes were not saved" in (await with_cookies(client, "GET", sent.headers["location"], {})).text

    sale = {"customer.email": "kept@example.com", "items.0.name": "stapler", "idempotency_key": "k1"}
    forged = await with_cookies(client, "POST", "/sales/new", stale, data={**sale, "csrf_token": "other" * 8})
    assert forged.status_code == 303, "another site's post leaves nothing in the sign-in form"
    kept = await with_cookies(client, "POST", "/sales/new", stale, data={**sale, "csrf_token": csrf})
    assert kept.status_code == 401
    assert 'name="stash"' in kept.text
    assert "kept@example.com" in kept.text
    assert csrf not in kept.text.split('name="stash"')[1].split(">")[0], "the CSRF token is not stashed"

    pair = {"access_token": SIGNER.token("technical_worker"), "refresh_token": "r9", "expires_in": 300}
    upstreams.handlers["POST auth/login"] = lambda request: httpx.Response(200, json=pair)
    stash = json.dumps(sale)
    back = await with_cookies(
        client,
        "POST",
        "/login",
        {"sg_csrf": csrf},
        data={"email": "w@x.io", "password": "pw", "csrf_token": csrf, "next": "/sales/new", "stash": stash},
    )
    assert back.status_code == 200
    assert 'value="kept@example.com"' in back.text
    assert 'value="k1"' in back.text, "the same idempotency key, so a repeat cannot make the sale twice"
    assert set_cookies(back)["sg_refresh"] == "r9"


async def test_the_replication_panel_says_when_the_last_event_was_applied_and_judges_by_lag(gateway) -> None:
    client, upstreams = gateway
    two_days_ago = datetime.fromtimestamp(time.time() - 2 * 86400 - 60, UTC).isoformat().replace("+00:00", "Z")
    partitions = [{"partition": 0, "committed_offset": 5, "end_offset": 5, "lag": 0, "last_occurred_at": two_days_ago}]
    upstreams.handlers["GET projector/freshness"] = lambda r: httpx.Response(200, json={"partitions": partitions})
    upstreams.handlers["GET sales-writer/internal/outbox/stats"] = lambda r: httpx.Response(
        200, json={"backlog": 0, "oldest_unpublished_age_s": None, "relay": "ok", "last_published_at": None}
    )
    session = {"sg_access": SIGNER.token("technical_worker")}
    quiet = (await with_cookies(client, "GET", "/ops/panel", session)).text
    assert "Last event applied" in quiet
    assert ">2 d ago<" in quiet
    assert "up to date" in quiet
    assert "172" not in quiet

    partitions[0].update(lag=3, end_offset=8)
    behind = (await with_cookies(client, "GET", "/ops/panel", session)).text
    assert "3 events waiting" in behind


def test_times_since_read_as_people_say_them() -> None:
    from supply_gateway.entrypoints.web import _ago

    assert [_ago(s) for s in (0.4, 42.9, 300, 7200, 172800.0, None)] == [
        "just now",
        "42 s ago",
        "5 min ago",
        "2 h ago",
        "2 d ago",
        "–",
    ]


async def test_a_refused_staff_account_names_each_problem_once(gateway) -> None:
    client, upstreams = gateway
    staff_directory(upstreams)
    upstreams.handlers["POST auth/users"] = lambda r: httpx.Response(
        422,
        json={
            "title": "Invalid request",
            "status": 422,
            "detail": "email: value error, An email address must have an @-sign.",
            "errors": [{"field": "email", "reason": "value error, An email address must have an @-sign."}],
        },
        headers={"content-type": "application/problem+json"},
    )
    csrf = "c" * 32
    session = {"sg_access": SIGNER.token("senior_management", sub="u1"), "sg_csrf": csrf}
    form = {"csrf_token": csrf, "name": "N", "email": "x", "password": "pw", "role": "technical_worker"}
    page = await with_cookies(client, "POST", "/staff", session, data=form)
    assert page.status_code == 422
    assert "Please correct the marked fields." in page.text
    assert page.text.count("@-sign") == 1


async def test_importing_a_file_without_sales_says_so(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["POST sales-writer/sales/import"] = lambda r: httpx.Response(
        200, json={"created": 0, "updated": 0, "unchanged": 0, "rejected": 0, "errors": []}
    )
    csrf = "c" * 32
    session = {"sg_access": SIGNER.token("technical_worker"), "sg_csrf": csrf}
    page = await with_cookies(
        client, "POST", "/sales/import", session, data={"csrf_token": csrf}, files={"file": ("empty.json", b"")}
    )
    assert page.status_code == 200
    assert 'id="import-empty">' in page.text, "the notice is shown, not hidden"
