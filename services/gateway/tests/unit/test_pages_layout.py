"""What every page shares: error pages for browsers (problem documents for the API's clients), where
a sign-in leads, the skip link and the footer."""

from __future__ import annotations

import httpx

from supply_gateway.config import GatewaySettings
from supply_gateway.entrypoints.app import create_app

from .app_support import SIGNER, Upstreams, logs_in_as, running, submit_login, wired, with_cookies

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_an_unknown_address_is_a_page_for_a_browser_and_a_problem_document_for_a_client(gateway) -> None:
    client, _ = gateway
    page = await client.get("/no/such/page", headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in page.text
    assert 'href="/"' in page.text
    problem = await client.get("/no/such/page", headers={"accept": "application/json"})
    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["status"] == 404
    api = await client.get("/api/no/such/route", headers=BROWSER)
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json", "the API answers its own way"


async def test_a_failure_on_our_side_is_a_page_that_says_so_plainly_with_a_reference() -> None:
    upstreams = Upstreams()
    container = wired(GatewaySettings(), upstreams)
    app = create_app(container)

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        page = await client.get("/broken", headers=BROWSER)
        problem = await client.get("/broken")
    assert page.status_code == 500
    assert "<h1>Something went wrong</h1>" in page.text
    assert "a bug" not in page.text
    assert "give this reference to the support team" in page.text
    assert problem.status_code == 500
    assert problem.headers["content-type"] == "application/problem+json"


async def test_an_unavailable_service_reads_as_plain_words_on_a_page(gateway) -> None:
    client, upstreams = gateway
    upstreams.down.add("projector")
    page = await with_cookies(client, "GET", "/purchases", {"sg_access": SIGNER.token("customer")}, headers=BROWSER)
    assert page.status_code == 503
    assert "<h1>Not available right now</h1>" in page.text
    assert "circuit" not in page.text.lower()


async def test_a_sign_in_leads_to_the_next_page_only_if_the_role_may_open_it() -> None:
    async with running(GatewaySettings(rate_credentials_burst=20)) as (client, upstreams, _):
        await _sign_ins_land_on(client, upstreams)


async def _sign_ins_land_on(client: httpx.AsyncClient, upstreams: Upstreams) -> None:
    for role, target, lands in (
        ("customer", "/dashboard", "/purchases"),
        ("customer", "/staff?tab=staff", "/purchases"),
        ("technical_worker", "/dashboard?period=7d", "/sales"),
        ("technical_worker", "/sales/new", "/sales/new"),
        ("senior_management", "/dashboard?period=7d", "/dashboard?period=7d"),
        ("senior_management", "/sales/new", "/dashboard"),
    ):
        logs_in_as(upstreams, role)
        signed_in = await submit_login(client, target)
        assert signed_in.headers.get("location") == lands, (role, target)


async def test_every_page_has_a_skip_link_and_only_staff_see_the_api_reference_in_the_footer(gateway) -> None:
    client, upstreams = gateway
    upstreams.handlers["GET projector/me/sales"] = lambda r: httpx.Response(
        200, json={"items": [], "next_cursor": None}
    )
    customer = await with_cookies(client, "GET", "/purchases", {"sg_access": SIGNER.token("customer")})
    worker = await with_cookies(client, "GET", "/sales/new", {"sg_access": SIGNER.token("technical_worker")})
    for page in (customer, worker):
        assert '<a class="skip-link" href="#main">' in page.text
        assert '<main id="main"' in page.text
    assert 'href="/docs"' not in customer.text
    assert 'href="/docs"' in worker.text
