"""Who may call the sales-writer: a user only with an access token it verifies itself, an operator
route only with a service credential carrying that route's scope. Headers name nobody."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from supply_common.testing.tokens import ISSUER_FOR_TESTS as ISSUER
from supply_common.testing.tokens import TestIssuer

from .conftest import sale_body

pytestmark = pytest.mark.integration

FORGED = {"X-User-Id": "worker-1", "X-User-Role": "technical_worker", "X-User-Email": "w@example.com"}
NOW = int(time.time())
USER_REFUSALS = {
    "forged X-User-* headers": (FORGED, 401),
    "no token": ({}, 401),
    "not a bearer token": ({"Authorization": "Basic d29ya2VyOnB3"}, 401),
    "expired": (ISSUER.bearer("technical_worker", iat=NOW - 900, exp=NOW - 600), 401),
    "wrong audience": (ISSUER.bearer("technical_worker", aud="somewhere-else"), 401),
    "a service credential": (ISSUER.service_bearer("sales:digest", "sales:republish", "outbox:read"), 401),
    "signed by another key": (TestIssuer(kid=ISSUER.kid).bearer("technical_worker"), 401),
    "a customer's token with forged worker headers": (ISSUER.bearer("customer") | FORGED, 403),
}
INTERNAL = [
    ("GET", "/internal/sales/digest", "sales:digest", None),
    ("POST", "/internal/sales/republish", "sales:republish", {"all": True}),
    ("GET", "/internal/outbox/stats", "outbox:read", None),
    ("GET", f"/internal/sales/{'a' * 24}/journey", "outbox:read", None),
]
OPERATOR_REFUSALS = {
    "forged X-User-* headers": (FORGED, 401),
    "no credential": ({}, 401),
    "a manager's access token": (ISSUER.bearer("senior_management"), 401),
    "a worker's access token": (ISSUER.bearer("technical_worker"), 401),
    "expired": (ISSUER.service_bearer("sales:digest", "sales:republish", "outbox:read", exp=NOW - 600), 401),
    "wrong audience": (
        ISSUER.service_bearer("sales:digest", "sales:republish", "outbox:read", aud="supply-store"),
        401,
    ),
    "another scope only": (ISSUER.service_bearer("outbox:read"), 403),
}


def _is_problem(response, status: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


@pytest.mark.parametrize("case", USER_REFUSALS.keys())
def test_a_create_without_a_verified_workers_token_is_refused_and_writes_nothing(
    client: TestClient, kit, case: str
) -> None:
    headers, status = USER_REFUSALS[case]
    response = client.post("/sales", json=sale_body(), headers=headers)
    _is_problem(response, status)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert kit.count() == 0


def test_forged_headers_beside_a_token_change_nothing_the_token_says(client: TestClient, kit) -> None:
    created = client.post("/sales", json=sale_body(), headers=kit.worker).json()
    forged = kit.customer | FORGED
    _is_problem(client.get(f"/sales/{created['id']}", headers=forged), 403)
    _is_problem(client.delete(f"/sales/{created['id']}", headers=forged | {"If-Match": '"1"'}), 403)
    envelope = kit.envelopes(kit.consume(1))[0]
    assert envelope["actor"] == {"user_id": "worker-1", "role": "technical_worker"}


@pytest.mark.parametrize(("method", "path", "scope", "body"), INTERNAL, ids=[path for _, path, _, _ in INTERNAL])
@pytest.mark.parametrize("case", OPERATOR_REFUSALS.keys())
def test_operator_routes_refuse_anything_but_a_credential_with_their_scope(
    client: TestClient, method: str, path: str, scope: str, body: dict | None, case: str
) -> None:
    headers, status = OPERATOR_REFUSALS[case]
    if case == "another scope only" and scope == "outbox:read":
        headers = ISSUER.service_bearer("sales:digest")
    _is_problem(client.request(method, path, json=body, headers=headers), status)


@pytest.mark.parametrize(("method", "path", "scope", "body"), INTERNAL, ids=[path for _, path, _, _ in INTERNAL])
def test_operator_routes_answer_a_credential_with_their_scope(
    client: TestClient, method: str, path: str, scope: str, body: dict | None
) -> None:
    response = client.request(method, path, json=body, headers=ISSUER.service_bearer(scope, subject="reconcile"))
    assert response.status_code == 200, response.text
