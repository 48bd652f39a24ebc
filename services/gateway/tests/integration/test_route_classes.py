"""Route classes and the per-user cap, against a real HTTP upstream on loopback whose analytics are
slow: the gateway's own connection pool, breakers and timeouts, nothing of it mocked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import jwt
import pytest

from supply_gateway.bootstrap import bootstrap
from supply_gateway.config import GatewaySettings
from supply_gateway.entrypoints.app import create_app

from ..unit.tokens_support import Signer, jwks

pytestmark = pytest.mark.integration

SIGNER = Signer()
SALE = "5bd761dcae323e45a93ccfe8"


@dataclass
class SlowProjector:
    """Auth's key set, fast sale reads, and analytics that answer after `analytics_delay_s`, or, for the
    users in `held`, only once `release` is set."""

    url: str = ""
    analytics_delay_s: float = 0.0
    held: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    """A path for each held request, as it arrives."""
    seen: list[tuple[str, str]] = field(default_factory=list)
    """(path, user id) of every request, in the order they arrived."""

    async def answer(self, path: str, user: str) -> bytes:
        self.seen.append((path, user))
        if path == "/.well-known/jwks.json":
            return json.dumps(jwks(SIGNER)).encode()
        if path.startswith("/analytics/"):
            if user in self.held:
                self.arrived.put_nowait(path)
                await self.release.wait()
            await asyncio.sleep(self.analytics_delay_s)
            return b'{"count": 1, "revenue": "3.50"}'
        if path in ("/sales", "/me/sales"):
            return b'{"items": [], "next_cursor": null}'
        return json.dumps({"id": SALE, "version": 1}).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not reader.at_eof():
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1].split("?")[0]
                fields = (line.split(": ", 1) for line in lines[1:] if ": " in line)
                headers = {name.lower(): value for name, value in fields}
                body = await self.answer(path, _user(headers.get("authorization", "")))
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def analytics_calls(self, user: str | None = None) -> int:
        return sum(1 for path, who in self.seen if path.startswith("/analytics/") and user in (None, who))


def _user(authorization: str) -> str:
    """The user a forwarded token names (the gateway checked it; this fake upstream only reads it)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


@pytest.fixture
async def projector() -> AsyncIterator[SlowProjector]:
    upstream = SlowProjector()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    upstream.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield upstream
        upstream.release.set()
        server.close()


Start = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def gateway_before(projector: SlowProjector) -> AsyncIterator[Start]:
    """Starts a gateway (its real upstream client) whose every upstream is `projector`."""
    started = []

    async def start(**settings: object) -> httpx.AsyncClient:
        url = projector.url
        container = bootstrap(
            GatewaySettings(  # type: ignore[arg-type]
                auth_url=url, sales_writer_url=url, projector_url=url, revocations_enabled=False, **settings
            )
        )
        await container.gateway.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(container)), base_url="http://gw")
        started.append((container, client))
        return client

    yield start
    for container, client in started:
        await client.aclose()
        await container.gateway.aclose()


def as_user(role: str, user: str) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(role, sub=user)}"}


async def test_slow_analytics_open_only_the_analytics_breaker_while_sale_reads_keep_answering(
    projector: SlowProjector, gateway_before: Start
) -> None:
    projector.analytics_delay_s = 2.0
    client = await gateway_before(route_class_timeouts_s={"analytics": 0.2}, breaker_failures=2)
    manager = as_user("senior_management", "m1")

    timed_out = [await client.get("/api/analytics/summary", headers=manager) for _ in range(2)]
    assert [answer.status_code for answer in timed_out] == [504, 504]
    assert timed_out[0].json()["detail"] == "Analytics took too long to answer. Please try again."

    refused = await client.get("/api/analytics/by-store", headers=manager)
    assert refused.status_code == 503
    assert refused.json()["type"] == "urn:supply-store:problem:circuit-open"
    assert refused.json()["route_class"] == "analytics"
    assert int(refused.headers["retry-after"]) >= 1
    assert projector.analytics_calls() == 2, "an open breaker does not call the upstream"

    assert (await client.get("/api/sales", headers=manager)).status_code == 200
    assert (await client.get(f"/api/sales/{SALE}", headers=manager)).status_code == 200
    assert (await client.get("/api/me/sales", headers=as_user("customer", "c1"))).status_code == 200

    session = {"cookie": f"sg_access={SIGNER.token('senior_management', sub='m1')}"}
    dashboard = await client.get("/dashboard", headers=session)
    assert dashboard.status_code == 200, "the page renders at once; each figure loads (and fails) on its own"
    assert "circuit" not in dashboard.text.lower()
    assert (await client.get("/sales", headers=session)).status_code == 200, "the sales page still works"


async def test_beyond_the_cap_one_users_expensive_read_gets_429_while_another_user_is_served(
    projector: SlowProjector, gateway_before: Start
) -> None:
    client = await gateway_before(expensive_calls_per_user=2)
    busy, other = as_user("senior_management", "busy"), as_user("senior_management", "other")
    projector.held.add("busy")

    under_way = [asyncio.create_task(client.get("/api/analytics/summary", headers=busy)) for _ in range(2)]
    for _ in under_way:
        await asyncio.wait_for(projector.arrived.get(), 10)

    refused = await client.get("/api/analytics/by-month", headers=busy)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/sales", headers=busy)).status_code == 429, "a search counts too"
    assert projector.analytics_calls("busy") == 2, "the refused call never reached the upstream"

    served = await client.get("/api/analytics/by-month", headers=other)
    assert served.status_code == 200, "another user is served meanwhile"
    assert (await client.get(f"/api/sales/{SALE}", headers=busy)).status_code == 200, "cheap reads are not capped"

    projector.release.set()
    assert [(await task).status_code for task in under_way] == [200, 200]
    assert (await client.get("/api/analytics/by-month", headers=busy)).status_code == 200, "the slots came back"
