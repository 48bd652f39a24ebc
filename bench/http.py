"""HTTP calls for the load generators.

The creates go through `Client`: keep-alive HTTP/1.1 connections (`supply_common.http_client`, the
gateway's upstream client), each request sent as bytes built once per body. The load generator
shares the two cores with what it measures, so every microsecond it spends is one the services lack:
no request or response objects beyond the bytes (docs/README.md says what aiohttp's client cost).
Login (row 8, a few logins a second) keeps aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from supply_common.http_client import Pools, request_head


class HttpStatusError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


def session(connections: int = 256) -> aiohttp.ClientSession:
    """An aiohttp session, for the calls that are not load (login)."""
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


class Client:
    """Keep-alive connections (`supply_common.http_client.Pools`), up to `connections` per origin
    (callers beyond wait for one), as aiohttp's connector limit did; a request that fails or times
    out closes its connection."""

    def __init__(self, connections: int = 256, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._pools = Pools(max_connections=connections)

    async def request(self, authority: str, raw: bytes) -> tuple[int, bytes]:
        """Send a complete request (`raw`, its bytes as they go on the wire) to `authority`
        (`host:port`); (status, body)."""
        pool = self._pools.get(authority)
        connection = await pool.acquire(connect_s=self.timeout_s)
        try:
            response = await connection.exchange(raw, timeout_s=self.timeout_s)
            answer = response.status, await response.read(self.timeout_s)
        except BaseException:
            connection.close()
            raise
        finally:
            pool.release(connection)
        return answer

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._pools.aclose()


def client(connections: int = 256) -> Client:
    return Client(connections)


def post_requests(url: str, bodies: list[bytes], headers: Mapping[str, str]) -> tuple[str, list[bytes]]:
    """(`host:port`, one complete `POST` per body) for `url`."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    fields = [("content-type", "application/json"), *headers.items()]
    return parts.netloc, [request_head("POST", path, parts.netloc, fields, body) + body for body in bodies]


class Creator:
    """POST one prepared sale body per call; keeps the ids and versions it got back."""

    def __init__(self, client: Client, url: str, bodies: list[bytes], headers: dict[str, str]) -> None:
        self.client = client
        self.authority, self.requests = post_requests(url, bodies, headers)
        self.created: list[tuple[str, int]] = []
        self.keep = False

    async def __call__(self, index: int) -> None:
        status, text = await self.client.request(self.authority, self.requests[index % len(self.requests)])
        if status != 201:
            raise HttpStatusError(status, text.decode(errors="replace"))
        if self.keep:
            answer: dict[str, Any] = json.loads(text)
            self.created.append((answer["id"], answer.get("version", 1)))
