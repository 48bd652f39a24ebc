"""Signing in and out, and the browser session the pages and the API share: cookies, CSRF, refresh."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from supply_gateway.config import GatewaySettings

from .app_support import (
    SIGNER,
    Auth,
    cleared,
    expired,
    running,
    set_cookies,
    with_cookies,
)


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
