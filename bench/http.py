"""HTTP calls for the load generators.

The creates go through `Client`: keep-alive HTTP/1.1 connections over asyncio protocols, each request
sent as bytes built once per body, each answer parsed by httptools (llhttp, the parser uvicorn
serves with). The load generator shares the two cores with what it measures, so every microsecond
it spends is one the services lack: aiohttp's client, used before, took 160-176 us of CPU per
create at concurrency 16, most of it building and tracking request and response objects that a
load generator does not need. Login (row 8, a few logins a second) keeps aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httptools

STAFF = {"X-User-Id": "bench", "X-User-Role": "technical_worker", "X-User-Email": "bench@example.com"}


class HttpStatusError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


def session(connections: int = 256) -> aiohttp.ClientSession:
    """An aiohttp session, for the calls that are not load (login)."""
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status, body = self.parser.get_status_code(), b"".join(self._body)
        self._body = []
        if not self.parser.should_keep_alive():
            self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class Client:
    """Up to `connections` keep-alive connections per client (callers beyond wait for one), as
    aiohttp's connector limit did; a request that fails or times out closes its connection."""

    def __init__(self, connections: int = 256, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(connections)
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def request(self, host: str, port: int, raw: bytes) -> tuple[int, bytes]:
        """Send a complete request (`raw`, its bytes as they go on the wire); (status, body)."""
        async with self._slots:
            connection = self._take(host, port) or await self._connect(host, port)
            try:
                async with asyncio.timeout(self.timeout_s):
                    answer = await connection.exchange(raw)
            except BaseException:
                connection.close()
                self._open.discard(connection)
                raise
            if connection.closed:
                self._open.discard(connection)
            else:
                self._idle.setdefault((host, port), []).append(connection)
            return answer

    def _take(self, host: str, port: int) -> _Connection | None:
        idle = self._idle.get((host, port))
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
            self._open.discard(connection)
        return None

    async def _connect(self, host: str, port: int) -> _Connection:
        _, connection = await asyncio.get_running_loop().create_connection(_Connection, host, port)
        self._open.add(connection)
        return connection

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for connection in self._open:
            with contextlib.suppress(Exception):
                connection.close()
        self._open.clear()
        self._idle.clear()


def client(connections: int = 256) -> Client:
    return Client(connections)


def post_requests(url: str, bodies: list[bytes], headers: Mapping[str, str]) -> tuple[str, int, list[bytes]]:
    """(host, port, one complete `POST` per body) for `url`."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    prefix = head.encode("latin-1")
    return host, port, [prefix + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies]


class Creator:
    """POST one prepared sale body per call; keeps the ids and versions it got back."""

    def __init__(self, client: Client, url: str, bodies: list[bytes], headers: dict[str, str]) -> None:
        self.client = client
        self.host, self.port, self.requests = post_requests(url, bodies, headers)
        self.created: list[tuple[str, int]] = []
        self.keep = False

    async def __call__(self, index: int) -> None:
        status, text = await self.client.request(self.host, self.port, self.requests[index % len(self.requests)])
        if status != 201:
            raise HttpStatusError(status, text.decode(errors="replace"))
        if self.keep:
            answer: dict[str, Any] = json.loads(text)
            self.created.append((answer["id"], answer.get("version", 1)))
