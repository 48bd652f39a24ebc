"""The register, "Choose your password" and sign-in pages, with auth answered by `httpx.MockTransport`
handlers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from supply_gateway.config import GatewaySettings
from supply_gateway.entrypoints.app import create_app

from .app_support import SIGNER, Upstreams, problem_reply, wired

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


async def test_registering_asks_no_password_shows_check_your_inbox_and_signs_nobody_in(pages: Gateway) -> None:
    client, upstreams = pages
    sent: list[dict[str, str]] = []

    def register(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(202, json={"detail": "Check your inbox: we sent a link to choose your password."})

    upstreams.handlers["POST auth/register"] = register
    form_page = await client.get("/register")
    assert 'type="password"' not in form_page.text
    csrf = client.cookies["sg_csrf"]

    response = await client.post("/register", data={"name": "Ada", "email": "ada@example.com", "csrf_token": csrf})

    assert response.status_code == 202
    assert "Check your inbox" in response.text
    assert "choose your password" in response.text
    assert "ada@example.com" in response.text
    assert auth_calls(upstreams) == ["/register"]
    assert sent == [{"email": "ada@example.com", "name": "Ada"}]
    assert not any(c.startswith(("sg_access=", "sg_refresh=")) for c in response.headers.get_list("set-cookie"))


def signed_in_pair(role: str = "customer") -> dict[str, object]:
    return {"access_token": SIGNER.token(role), "refresh_token": "r-1", "token_type": "Bearer", "expires_in": 300}


async def test_the_link_page_sets_nothing_until_a_password_is_chosen_and_then_signs_in(pages: Gateway) -> None:
    client, upstreams = pages
    sent: list[dict[str, str]] = []

    def choose(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=signed_in_pair())

    upstreams.handlers["POST auth/verify-email"] = choose

    page = await client.get("/verify-email", params={"token": "tok-123_abc"})

    assert page.status_code == 200
    assert "Choose your password" in page.text
    assert 'name="token" value="tok-123_abc"' in page.text
    assert 'id="set-password"' in page.text
    assert auth_calls(upstreams) == []
    csrf = client.cookies["sg_csrf"]
    form = {"token": "tok-123_abc", "password": "a sturdy passphrase", "password_confirm": "a sturdy passphrase"}
    refused = await client.post("/verify-email", data={**form, "csrf_token": "forged"})
    assert refused.status_code == 403
    differ = await client.post("/verify-email", data={**form, "password_confirm": "another", "csrf_token": csrf})
    assert differ.status_code == 422
    assert "differ" in differ.text
    assert 'name="token" value="tok-123_abc"' in differ.text
    assert sent == []

    chosen = await client.post("/verify-email", data={**form, "csrf_token": csrf})

    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/"
    assert sent == [{"token": "tok-123_abc", "password": "a sturdy passphrase"}]
    cookies = chosen.headers.get_list("set-cookie")
    assert any(c.startswith("sg_access=") for c in cookies)
    assert any(c.startswith("sg_refresh=") for c in cookies)


async def test_a_password_auth_refuses_is_shown_by_its_field_and_the_link_stays(pages: Gateway) -> None:
    client, upstreams = pages
    upstreams.handlers["POST auth/verify-email"] = problem_reply(
        422,
        "Invalid request",
        errors=[{"field": "password", "reason": "is on a list of common passwords; choose another"}],
    )
    csrf = await csrf_of(client, "/verify-email?token=tok")
    form = {"token": "tok", "password": "password1234", "password_confirm": "password1234", "csrf_token": csrf}

    response = await client.post("/verify-email", data=form)

    assert response.status_code == 422
    assert "common passwords" in response.text
    assert 'name="token" value="tok"' in response.text
    assert not any(c.startswith("sg_access=") for c in response.headers.get_list("set-cookie"))


async def test_a_link_that_does_not_work_says_how_to_get_a_new_one(pages: Gateway) -> None:
    client, upstreams = pages
    upstreams.handlers["POST auth/verify-email"] = problem_reply(
        400, "Link not valid", errors=[{"field": "token", "reason": "x"}]
    )
    csrf = await csrf_of(client, "/verify-email?token=old")
    form = {"token": "old", "password": "a sturdy passphrase", "password_confirm": "a sturdy passphrase"}

    response = await client.post("/verify-email", data={**form, "csrf_token": csrf})

    assert response.status_code == 400
    assert "Register again with the same email" in response.text
    assert 'id="set-password"' not in response.text


async def test_signing_in_before_confirming_says_to_confirm_first(pages: Gateway) -> None:
    client, upstreams = pages
    upstreams.handlers["POST auth/login"] = problem_reply(
        403, "Email not confirmed", detail="Confirm your email first."
    )
    csrf = await csrf_of(client, "/login")

    response = await client.post("/login", data={"email": "a@example.com", "password": "x", "csrf_token": csrf})

    assert response.status_code == 403
    assert "Confirm your email first" in response.text
    assert "Register again with the same email" in response.text


async def test_a_customer_asks_for_the_link_again_from_the_sign_in_page(pages: Gateway) -> None:
    client, upstreams = pages
    asked: list[dict[str, str]] = []
    upstreams.handlers["POST auth/resend-confirmation"] = lambda request: (
        asked.append(json.loads(request.content)) or httpx.Response(202, json={"detail": "Check your inbox."})
    )
    assert 'href="/resend-confirmation"' in (await client.get("/login")).text
    assert 'href="/resend-confirmation"' in (await client.get("/register")).text
    csrf = await csrf_of(client, "/resend-confirmation")

    response = await client.post("/resend-confirmation", data={"email": " ada@example.com ", "csrf_token": csrf})

    assert response.status_code == 202
    assert asked == [{"email": " ada@example.com "}]
    assert 'id="check-inbox"' in response.text
    assert "a new link is on its way" in response.text
    assert 'id="resend-again"' in response.text, "and can ask once more from there"


async def test_a_bad_address_for_a_new_link_is_named_at_its_field(pages: Gateway) -> None:
    client, upstreams = pages
    upstreams.handlers["POST auth/resend-confirmation"] = problem_reply(
        422, "Invalid request", errors=[{"field": "email", "reason": "must be an email address like name@example.com"}]
    )
    csrf = await csrf_of(client, "/resend-confirmation")

    response = await client.post("/resend-confirmation", data={"email": "nope", "csrf_token": csrf})

    assert response.status_code == 422
    assert "must be an email address like name@example.com" in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="nope"' in response.text


async def test_too_many_attempts_say_to_wait_before_trying_again(pages: Gateway) -> None:
    client, upstreams = pages
    for route in ("login", "register", "verify-email"):
        upstreams.handlers[f"POST auth/{route}"] = lambda request: httpx.Response(
            429,
            json={"title": "Too many requests", "status": 429},
            headers={"content-type": "application/problem+json", "retry-after": "30"},
        )
    csrf = await csrf_of(client, "/login")
    password = {"password": "a sturdy passphrase", "password_confirm": "a sturdy passphrase", "csrf_token": csrf}

    sign_in = await client.post("/login", data={"email": "a@example.com", "password": "x", "csrf_token": csrf})
    register = await client.post("/register", data={"name": "Ada", "email": "ada@example.com", "csrf_token": csrf})
    link = await client.post("/verify-email", data={"token": "tok", **password})

    assert [sign_in.status_code, register.status_code, link.status_code] == [429, 429, 429]
    assert "Too many sign-in attempts. Wait 30 seconds and try again." in sign_in.text
    assert "Too many attempts. Wait 30 seconds and try again." in register.text
    assert "Too many attempts. Wait 30 seconds and try again." in link.text
