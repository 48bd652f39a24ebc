"""The staff directory."""

from __future__ import annotations

import httpx

from .app_support import (
    SIGNER,
    staff_directory,
    with_cookies,
)


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
