"""The client's address reaches auth with the gateway's credential vouching for it, in a header of
its own; without a usable credential, the calls that would carry the address are refused, not sent."""

from __future__ import annotations

from pathlib import Path

from supply_common.testing.tokens import TestIssuer
from supply_gateway.config import GatewaySettings

from .app_support import GATEWAY_CREDENTIAL, bearer, running

CLIENT = {"x-forwarded-for": "203.0.113.5"}


async def test_a_login_goes_to_auth_with_the_clients_address_and_the_gateways_credential() -> None:
    async with running(GatewaySettings(trust_forwarded_for=True)) as (client, upstreams, _):
        assert (await client.post("/api/auth/login", json={}, headers=CLIENT)).status_code == 200
        login = upstreams.seen[-1]
        assert login.url.path == "/login"
        assert login.headers["x-forwarded-for"] == "203.0.113.5"
        assert login.headers["x-service-authorization"] == f"Bearer {GATEWAY_CREDENTIAL}"
        assert "authorization" not in login.headers, "Authorization is the user's: the credential never goes there"

        assert (await client.get("/api/sales", headers=bearer("technical_worker"))).status_code == 200
        assert "x-service-authorization" not in upstreams.seen[-1].headers, "only auth is told whose address it is"


async def test_without_a_usable_credential_a_login_is_refused_until_one_is_issued(tmp_path: Path) -> None:
    path = tmp_path / "gateway.jwt"
    async with running(GatewaySettings(service_token_file=path)) as (client, upstreams, _):
        missing = await client.post("/api/auth/login", json={})
        assert missing.status_code == 503
        assert missing.headers["retry-after"] == "60"
        assert missing.json()["detail"] == "Signing in is not available right now. Please try again later."
        assert not [seen for seen in upstreams.seen if seen.url.path == "/login"], "nothing reached auth"

        path.write_text(TestIssuer().service_token("auth:client-address", subject="gateway", ttl_s=-60) + "\n")
        assert (await client.post("/api/auth/login", json={})).status_code == 503, "an expired one is no better"

        fresh = TestIssuer().service_token("auth:client-address", subject="gateway")
        path.write_text(fresh + "\n")
        assert (await client.post("/api/auth/login", json={})).status_code == 200, "read again, no restart"
        assert upstreams.seen[-1].headers["x-service-authorization"] == f"Bearer {fresh}"
