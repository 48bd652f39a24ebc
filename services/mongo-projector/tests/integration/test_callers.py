"""Who may read through the read API: a user only with an access token the API verifies itself.
Headers name nobody; a service credential is no user's token."""

from __future__ import annotations

import time

import httpx
import pytest

from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_common.testing.tokens import TestIssuer

pytestmark = pytest.mark.integration

NOW = int(time.time())
FORGED = {"X-User-Id": "m", "X-User-Role": "senior_management", "X-User-Email": "m@example.com"}
ROUTES = {
    "/sales": "technical_worker",
    "/analytics/summary": "senior_management",
    "/me/sales": "customer",
    "/freshness": "technical_worker",
    "/consumers": "senior_management",
    "/dead-letters": "technical_worker",
}
REFUSALS = {
    "forged X-User-* headers": lambda role: (FORGED | {"X-User-Role": role}, 401),
    "no token": lambda role: ({}, 401),
    "expired": lambda role: (ISSUER.bearer(role, iat=NOW - 900, exp=NOW - 600), 401),
    "wrong audience": lambda role: (ISSUER.bearer(role, aud="supply-store-service"), 401),
    "signed by another key": lambda role: (TestIssuer(kid=ISSUER.kid).bearer(role), 401),
    "a service credential": lambda role: (ISSUER.service_bearer("sales:digest", "outbox:read"), 401),
    "another role's token with forged headers": lambda role: (
        ISSUER.bearer("customer" if role != "customer" else "technical_worker") | FORGED | {"X-User-Role": role},
        403,
    ),
}


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("case", REFUSALS)
async def test_reads_without_a_verified_token_of_an_allowed_role_are_refused(
    client: httpx.AsyncClient, path: str, case: str
) -> None:
    headers, status = REFUSALS[case](ROUTES[path])
    response = await client.get(path, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


@pytest.mark.parametrize("path", ROUTES)
async def test_reads_with_a_verified_token_of_an_allowed_role_are_answered(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=ISSUER.bearer(ROUTES[path]))
    assert response.status_code == 200, response.text


async def test_a_sales_repair_takes_a_service_credential_with_its_scope_and_no_users_token(
    client: httpx.AsyncClient,
) -> None:
    path = "/internal/sales/5bd761dcae323e45a93ccfe8/repair"
    for headers, status in (
        (ISSUER.bearer("technical_worker"), 401),
        (ISSUER.service_bearer("sales:digest", "sales:republish"), 403),
        (FORGED, 401),
    ):
        response = await client.post(path, headers=headers)
        assert response.status_code == status, response.text
