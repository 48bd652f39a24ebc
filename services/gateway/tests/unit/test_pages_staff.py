"""The staff directory: tabs, search and sort, invitations, confirmed changes and the notices that name them."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from .app_support import (
    SIGNER,
    problem_reply,
    staff_directory,
    with_cookies,
)

CSRF = "c" * 32
MANAGER = {"sg_access": SIGNER.token("senior_management", sub="u1", exp=int(time.time()) + 86400), "sg_csrf": CSRF}
"""Made at import, so its token lives a day: a whole suite on a loaded machine outlasts the usual 5 minutes."""


def _asked(upstreams, path: str = "/users") -> list[dict[str, list[str]]]:
    return [parse_qs(r.url.query.decode()) for r in upstreams.seen if r.method == "GET" and r.url.path == path]


async def test_staff_and_customers_are_separate_tabs_with_search_and_sort(gateway) -> None:
    client, upstreams = gateway
    staff_directory(upstreams)

    staff = await with_cookies(client, "GET", "/staff", MANAGER)
    customers = await with_cookies(client, "GET", "/staff?tab=customers&q=+cat+&sort=-last_login", MANAGER)

    assert staff.status_code == customers.status_code == 200
    assert "boss@example.com" in staff.text
    assert "cat@example.com" not in staff.text
    assert "cat@example.com" in customers.text
    assert "boss@example.com" not in customers.text
    first, _, second, _ = _asked(upstreams)
    assert first["role"] == ["technical_worker", "senior_management"]
    assert first["sort"] == ["name"]
    assert second == {"role": ["customer"], "q": ["cat"], "sort": ["-last_login"], "offset": ["0"], "limit": ["25"]}
    assert 'id="tab-customers" class="active" aria-current="page"' in customers.text
    assert '>Customers <span class="count">1</span>' in staff.text, "each tab says how many it holds"
    assert "06 Dec 2026, 09:30 UTC" in staff.text
    assert "Never" in staff.text
    assert "Not confirmed" in staff.text


async def test_a_customer_without_a_password_gets_a_resend_and_the_notice_names_it(gateway) -> None:
    client, upstreams = gateway
    staff_directory(upstreams)
    resent: list[str] = []
    upstreams.handlers["POST auth/users/c1/password-link"] = lambda r: (
        resent.append(r.url.path) or httpx.Response(202, json={"id": "c1"})
    )
    page = await with_cookies(client, "GET", "/staff?tab=customers", MANAGER)
    assert "Resend confirmation" in page.text

    form = {"csrf_token": CSRF, "action": "resend", "email": "cat@example.com", "tab": "customers"}
    sent = await with_cookies(client, "POST", "/staff/c1", MANAGER, data=form)

    assert sent.status_code == 303
    assert resent == ["/users/c1/password-link"]
    shown = await with_cookies(client, "GET", sent.headers["location"], MANAGER)
    assert "A new link was sent to cat@example.com" in shown.text
    assert 'id="tab-customers" class="active"' in shown.text, "back on the tab the manager was on"


async def test_disabling_asks_first_then_names_the_change(gateway) -> None:
    client, upstreams = gateway
    patched = staff_directory(upstreams)
    form = {"csrf_token": CSRF, "action": "disable", "email": "w@example.com", "q": "w", "sort": "email"}

    asked = await with_cookies(client, "POST", "/staff/u2", MANAGER, data=form)

    assert asked.status_code == 200
    assert patched == [], "nothing changes before the manager confirms"
    assert 'id="confirm-change"' in asked.text
    assert "Disable <strong>w@example.com</strong>?" in asked.text
    assert 'name="q" value="w"' in asked.text

    done = await with_cookies(client, "POST", "/staff/u2", MANAGER, data={**form, "confirm": "yes"})
    assert done.status_code == 303
    assert patched == [{"disabled": True}]
    location = urlsplit(done.headers["location"])
    assert parse_qs(location.query)["q"] == ["w"]
    shown = await with_cookies(client, "GET", done.headers["location"], MANAGER)
    assert "w@example.com is disabled: signed out everywhere" in shown.text


async def test_a_role_change_asks_first_then_says_from_what_to_what(gateway) -> None:
    client, upstreams = gateway
    patched = staff_directory(upstreams)
    form = {"csrf_token": CSRF, "action": "role", "role": "senior_management", "from": "technical_worker"}
    form["email"] = "w@example.com"

    asked = await with_cookies(client, "POST", "/staff/u2", MANAGER, data=form)
    assert "from <strong>Technical worker</strong> to <strong>Senior management</strong>" in asked.text
    assert patched == []

    done = await with_cookies(client, "POST", "/staff/u2", MANAGER, data={**form, "confirm": "yes"})
    shown = await with_cookies(client, "GET", done.headers["location"], MANAGER)
    assert patched == [{"role": "senior_management"}]
    assert "w@example.com is now Senior management (was Technical worker)." in shown.text


async def test_a_manager_confirms_a_change_of_their_own_role_and_a_refusal_keeps_the_staff_page(gateway) -> None:
    client, upstreams = gateway
    patched = staff_directory(upstreams)
    form = {"csrf_token": CSRF, "action": "role", "role": "technical_worker", "email": "boss@example.com"}
    asked = await with_cookies(client, "POST", "/staff/u1", MANAGER, data=form)
    assert asked.status_code == 200
    assert 'id="confirm-change"' in asked.text
    assert "This is your own account" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert patched == [], "nothing changes before the manager confirms"

    refused = await with_cookies(client, "POST", "/staff/u1", MANAGER, data={**form, "confirm": "yes"})
    assert patched == [{"role": "technical_worker"}]
    assert refused.status_code == 409
    assert 'id="users"' in refused.text, "the staff page again, not a dead end"
    assert "boss@example.com was not changed" in refused.text
    assert "Make another account a senior manager first" in refused.text


async def test_staff_are_invited_by_email_without_a_password(gateway) -> None:
    client, upstreams = gateway
    staff_directory(upstreams)
    invited: list[dict[str, str]] = []

    def invite(request: httpx.Request) -> httpx.Response:
        invited.append(json.loads(request.content))
        return httpx.Response(201, json={"id": "u9", "email": "ada@example.com", "role": "technical_worker"})

    upstreams.handlers["POST auth/users"] = invite
    page = await with_cookies(client, "GET", "/staff", MANAGER)
    assert 'type="password"' not in page.text

    form = {"csrf_token": CSRF, "name": "Ada", "email": "ada@example.com", "role": "technical_worker"}
    sent = await with_cookies(client, "POST", "/staff", MANAGER, data=form)

    assert sent.status_code == 303
    assert invited == [{"email": "ada@example.com", "name": "Ada", "role": "technical_worker"}]
    shown = await with_cookies(client, "GET", sent.headers["location"], MANAGER)
    assert "Invitation sent to ada@example.com" in shown.text


async def test_a_refused_staff_account_names_each_problem_once(gateway) -> None:
    client, upstreams = gateway
    staff_directory(upstreams)
    upstreams.handlers["POST auth/users"] = problem_reply(
        422,
        "Invalid request",
        detail="email: value error, An email address must have an @-sign.",
        errors=[{"field": "email", "reason": "value error, An email address must have an @-sign."}],
    )
    form = {"csrf_token": CSRF, "name": "N", "email": "x", "role": "technical_worker"}
    page = await with_cookies(client, "POST", "/staff", MANAGER, data=form)
    assert page.status_code == 422
    assert "Please correct the marked fields." in page.text
    assert page.text.count("@-sign") == 1


async def test_a_notice_shows_only_known_changes_and_role_names(gateway) -> None:
    client, upstreams = gateway
    staff_directory(upstreams)

    odd = await with_cookies(client, "GET", "/staff?done=role&email=x%40example.com&role=<b>god</b>", MANAGER)
    markup = await with_cookies(client, "GET", "/staff?done=invited&email=<script>x</script>", MANAGER)

    assert "x@example.com is now" not in odd.text
    assert "<script>x</script>" not in markup.text
    assert "&lt;script&gt;x&lt;/script&gt;" in markup.text
