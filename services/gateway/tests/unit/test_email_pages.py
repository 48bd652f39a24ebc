"""The register, confirm-email and sign-in pages around email confirmation, with auth answered by
`httpx.MockTransport` handlers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from supply_gateway.config import GatewaySettings
from supply_gateway.entrypoints.app import create_app

from .app_support import Upstreams, wired

Gateway = tuple[httpx.AsyncClient, Upstreams]


@pytest.fixture
async def pages() -> AsyncIterator[Gateway]:
    upstreams = Upstreams()
    settings = GatewaySettings()
    container = wired(settings, upstreams)
    core = container.gateway
    app = create_app(container)
    await core.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        yield client, upstreams
    await core.aclose()


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    await client.get(path)
    return client.cookies["sg_csrf"]


def auth_calls(upstreams: Upstreams) -> list[str]:
    return [request.url.path for request in upstreams.seen if request.url.path != "/.well-known/jwks.json"]


async def test_registering_shows_check_your_inbox_and_signs_nobody_in(pages: Gateway) -> None:
    client, upstreams = pages
    upstreams.handlers["POST auth/register"] = lambda request: httpx.Response(
        202, json={"detail": "Check your inbox: we sent a link to confirm the address."}
    )
    csrf = await csrf_of(client, "/register")
    form = {"name": "Ada", "email": "ada@example.com", "password": "p" * 14, "password_confirm": "p" * 14}

    response = await client.post("/register", data={**form, "csrf_token": csrf})

    assert response.status_code == 202
    assert "Check your inbox" in response.text
    assert "ada@example.com" in response.text
    assert auth_calls(upstreams) == ["/register"]
    assert not any(c.startswith(("sg_access=", "sg_refresh=")) for c in response.headers.get_list("set-cookie"))


async def test_the_link_page_confirms_nothing_until_its_button_is_pressed(pages: Gateway) -> None:
    client, upstreams = pages
    sent: list[dict[str, str]] = []

    def verify(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(204)

    upstreams.handlers["POST auth/verify-email"] = verify

    page = await client.get("/verify-email", params={"token": "tok-123_abc"})

    assert page.status_code == 200
    assert 'name="token" value="tok-123_abc"' in page.text
    assert 'id="confirm-email"' in page.text
    assert auth_calls(upstreams) == []
    csrf = client.cookies["sg_csrf"]
    refused = await client.post("/verify-email", data={"token": "tok-123_abc", "csrf_token": "forged"})
    assert refused.status_code == 403
    assert sent == []

    confirmed = await client.post("/verify-email", data={"token": "tok-123_abc", "csrf_token": csrf})

    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/login?confirmed=1"
    assert sent == [{"token": "tok-123_abc"}]
    signin = await client.get("/login?confirmed=1")
    assert "Your email is confirmed" in signin.text


async def test_a_link_that_does_not_work_says_how_to_get_a_new_one(pages: Gateway) -> None:
    client, upstreams = pages
    upstreams.handlers["POST auth/verify-email"] = lambda request: httpx.Response(
        400,
        json={"title": "Confirmation link not valid", "status": 400, "errors": [{"field": "token", "reason": "x"}]},
        headers={"content-type": "application/problem+json"},
    )
    csrf = await csrf_of(client, "/verify-email?token=old")

    response = await client.post("/verify-email", data={"token": "old", "csrf_token": csrf})

    assert response.status_code == 400
    assert "Register again with the same email" in response.text
    assert 'id="confirm-email"' not in response.text


async def test_signing_in_before_confirming_says_to_confirm_first(pages: Gateway) -> None:
    client, upstreams = pages
    upstreams.handlers["POST auth/login"] = lambda request: httpx.Response(
        403,
        json={"title": "Email not confirmed", "status": 403, "detail": "Confirm your email first."},
        headers={"content-type": "application/problem+json"},
    )
    csrf = await csrf_of(client, "/login")

    response = await client.post("/login", data={"email": "a@example.com", "password": "x", "csrf_token": csrf})

    assert response.status_code == 403
    assert "Confirm your email first" in response.text
    assert "Register again with the same email" in response.text
