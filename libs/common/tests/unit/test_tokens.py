"""The one verifier every service uses: user tokens and service credentials apart, revocation asked on
every use, credentials read from their file as it changes, and the route dependencies' answers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from supply_common.callers import SERVICE_AUTHORIZATION, require_roles, require_scope, vouching_service
from supply_common.identity import Identity
from supply_common.testing.tokens import TestIssuer
from supply_common.tokens import CredentialFile, InvalidToken, ServiceCaller, TokenRevoked
from supply_common.web import create_app

ISSUER = TestIssuer()
NOW = int(time.time())


class Refuse:
    """A revocation check that refuses the subjects it is told about."""

    def __init__(self) -> None:
        self.subjects: set[str] = set()
        self.asked = 0

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        self.asked += 1
        return claims.get("sub") in self.subjects


async def test_a_service_credential_names_its_subject_and_scopes() -> None:
    caller = await ISSUER.verifier().verify_service(ISSUER.service_token("sales:digest", "outbox:read", subject="ops"))
    assert caller == ServiceCaller("ops", frozenset({"sales:digest", "outbox:read"}))


@pytest.mark.parametrize(
    "token",
    [
        ISSUER.token("senior_management"),
        ISSUER.service_token("sales:digest", aud="supply-store"),
        ISSUER.service_token("sales:digest", exp=NOW - 600, iat=NOW - 900),
        ISSUER.service_token("sales:digest", scope=None),
        ISSUER.service_token("sales:digest", role="senior_management"),
        ISSUER.service_token("sales:digest", aud=["supply-store-service", "supply-store"]),
        TestIssuer(kid=ISSUER.kid).service_token("sales:digest"),
    ],
    ids=["a user's token", "user audience", "expired", "no scope", "with a role", "two audiences", "foreign key"],
)
async def test_anything_but_a_service_credential_is_refused_as_one(token: str) -> None:
    with pytest.raises(InvalidToken):
        await ISSUER.verifier().verify_service(token)


async def test_a_service_credential_is_no_users_token() -> None:
    with pytest.raises(InvalidToken):
        await ISSUER.verifier().verify(ISSUER.service_token("sales:digest", "sales:republish", "outbox:read"))


async def test_the_revocation_check_is_asked_on_every_use_even_of_a_remembered_token() -> None:
    refuse = Refuse()
    verifier = ISSUER.verifier(revocation=refuse)
    token = ISSUER.token("technical_worker", sub="w-7")
    assert (await verifier.verify(token)).user_id == "w-7"
    assert (await verifier.verify(token)).user_id == "w-7"
    refuse.subjects.add("w-7")
    with pytest.raises(TokenRevoked):
        await verifier.verify(token)
    assert refuse.asked == 3
    with pytest.raises(TokenRevoked):
        await verifier.verify_service(ISSUER.service_token("sales:digest", subject="w-7"))


def test_a_credential_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "gateway.jwt"
    path.write_text("first\n")
    credential = CredentialFile(path)
    assert credential.authorization() == {"authorization": "Bearer first"}
    path.write_text("the second one\n")
    assert credential.token() == "the second one"
    path.write_text("")
    with pytest.raises(ValueError, match="no credential"):
        credential.token()


def test_a_credential_file_holding_an_expired_credential_is_no_credential(tmp_path: Path) -> None:
    path = tmp_path / "gateway.jwt"
    path.write_text(ISSUER.service_token("auth:client-address", ttl_s=-60) + "\n")
    credential = CredentialFile(path)
    with pytest.raises(ValueError, match="expired"):
        credential.token()
    fresh = ISSUER.service_token("auth:client-address")
    path.write_text(fresh + "\n")
    assert credential.authorization(SERVICE_AUTHORIZATION) == {SERVICE_AUTHORIZATION: f"Bearer {fresh}"}


@pytest.mark.parametrize(
    ("headers", "vouched"),
    [
        ({}, False),
        ({"x-service-authorization": f"Bearer {ISSUER.token('senior_management')}"}, False),
        ({"x-service-authorization": f"Bearer {ISSUER.service_token('outbox:read')}"}, False),
        ({"x-service-authorization": f"Bearer {ISSUER.service_token('auth:client-address', exp=NOW - 600)}"}, False),
        ({"x-service-authorization": f"Bearer {TestIssuer().service_token('auth:client-address')}"}, False),
        ({"authorization": f"Bearer {ISSUER.service_token('auth:client-address')}"}, False),
        ({"x-service-authorization": ISSUER.service_token("auth:client-address")}, False),
        ({"x-service-authorization": f"Bearer {ISSUER.service_token('auth:client-address', subject='gw')}"}, True),
    ],
    ids=[
        "nothing",
        "a user's token",
        "another scope",
        "expired",
        "foreign key",
        "in Authorization",
        "not a bearer",
        "the credential",
    ],
)
async def test_only_a_credential_with_the_scope_in_its_own_header_vouches(
    headers: dict[str, str], vouched: bool
) -> None:
    caller = await vouching_service(ISSUER.verifier(), headers, "auth:client-address")
    assert (caller is not None) is vouched
    if caller is not None:
        assert caller.subject == "gw"


def _app() -> FastAPI:
    app = create_app(service="callers-test", title="callers")
    app.state.tokens = ISSUER.verifier()

    @app.get("/staff")
    async def staff(who: Annotated[Identity, Depends(require_roles("technical_worker"))]) -> dict[str, str]:
        return {"user": who.user_id}

    @app.get("/internal/digest")
    async def digest(who: Annotated[ServiceCaller, Depends(require_scope("sales:digest"))]) -> dict[str, str]:
        return {"service": who.subject}

    return app


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/staff", {"X-User-Id": "1", "X-User-Role": "technical_worker"}, 401),
        ("/staff", {"Authorization": f"Bearer {ISSUER.token('technical_worker', exp=NOW - 600, iat=NOW - 900)}"}, 401),
        ("/staff", ISSUER.bearer("customer"), 403),
        ("/staff", ISSUER.bearer("technical_worker", sub="w-1"), 200),
        ("/internal/digest", {"X-User-Id": "1", "X-User-Role": "senior_management"}, 401),
        ("/internal/digest", ISSUER.bearer("senior_management"), 401),
        ("/internal/digest", ISSUER.service_bearer("outbox:read"), 403),
        ("/internal/digest", ISSUER.service_bearer("sales:digest", subject="reconcile"), 200),
    ],
)
async def test_route_dependencies_answer_with_the_callers_verified_token_only(
    path: str, headers: dict[str, str], status: int
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://service") as client:
        response = await client.get(path, headers=headers)
    assert response.status_code == status, response.text
    if status != 200:
        assert response.headers["content-type"].startswith("application/problem+json")


def test_a_scope_nobody_issues_cannot_guard_a_route() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        require_scope("sales:everything")
