"""The sales pages: a form sent after the session ended, and the import."""

from __future__ import annotations

import json

import httpx

from .app_support import (
    SIGNER,
    logs_in_as,
    set_cookies,
    submit_login,
    with_cookies,
)


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

    logs_in_as(upstreams, "technical_worker", refresh="r9")
    back = await submit_login(client, "/sales/new", stash=json.dumps(sale))
    assert back.status_code == 200
    assert 'value="kept@example.com"' in back.text
    assert 'value="k1"' in back.text, "the same idempotency key, so a repeat cannot make the sale twice"
    assert set_cookies(back)["sg_refresh"] == "r9"


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
