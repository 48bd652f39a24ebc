"""How the gateway reaches its upstreams: aiohttp's connection pool, and the answers it gives back.

aiohttp keeps idle connections per host in a queue and parses responses in C. The gateway speaks to
it directly and passes on a small `UpstreamResponse`: wrapping the pool in httpx's transport API,
with httpx's request and response objects, header collections and byte streams around every
exchange, took about a quarter of the gateway's CPU per proxied request (measured against a
stand-in upstream). Anything else that implements `Transport` can stand in for the pool (tests do).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

CHUNK_BYTES = 64 * 1024

Body = bytes | AsyncIterable[bytes] | None


@dataclass(frozen=True)
class RequestTimeouts:
    """Seconds to get a connection (`connect_s`, plus `pool_s` waiting for a pooled one) and
    between bytes of the answer (`read_s`); None waits for ever."""

    connect_s: float | None
    read_s: float | None
    pool_s: float | None


class TransportError(Exception):
    """The upstream gave no usable answer. `retryable`: a safe request may be sent again (nothing
    was answered: the connection was refused or broke)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Unreachable(TransportError):
    """No connection: refused, or none in time."""


class TimedOut(TransportError):
    """Connected, but the answer did not come in time."""


class BadAnswer(TransportError):
    """The connection broke, or what came back was not a whole HTTP answer."""


class UpstreamResponse:
    """An upstream's answer: read whole (`is_read`, `content`), or a body still to stream, which the
    holder must `aclose`."""

    __slots__ = ("_content", "_release", "_stream", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: CIMultiDictProxy[str] | CIMultiDict[str],
        *,
        content: bytes | None = None,
        stream: AsyncIterator[bytes] | None = None,
        release: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if (content is None) == (stream is None):
            raise ValueError("give either the content or a stream")
        self.status_code = status_code
        self.headers: Mapping[str, str] = headers
        self._content = content
        self._stream = stream
        self._release = release

    @property
    def is_read(self) -> bool:
        return self._content is not None

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("the body has not been read")
        return self._content

    def json(self) -> Any:
        return json.loads(self.content)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._content is not None:
            yield self._content
            return
        assert self._stream is not None
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            await release()


class Transport(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        timeouts: RequestTimeouts,
        read_up_to: int | None,
    ) -> UpstreamResponse:
        """Send one request. An answer whose Content-Length is at most `read_up_to` bytes (any answer
        when None) comes back read, so that failing to read it raises here; others stream."""
        ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """One aiohttp connection pool (`max_connections` in all, idle ones kept `keepalive_s`); opened
    on the first request, inside the running event loop. Redirects, cookies and decompression are
    left alone: what the upstream answers is what the caller gets."""

    def __init__(self, *, max_connections: int = 200, keepalive_s: float = 30.0) -> None:
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=self.keepalive_s),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        timeouts: RequestTimeouts,
        read_up_to: int | None,
    ) -> UpstreamResponse:
        session = self._open()
        try:
            response = await session.request(
                method, url, headers=headers, data=body, allow_redirects=False, timeout=_client_timeout(timeouts)
            )
            length = response.content_length
            if read_up_to is None or (length is not None and length <= read_up_to):
                try:
                    content = await response.read()
                finally:
                    response.release()
                return UpstreamResponse(response.status, response.headers, content=content)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _failure(exc) from exc
        return UpstreamResponse(
            response.status, response.headers, stream=_chunks(response), release=_releaser(response)
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _failure(exc) from exc


def _releaser(response: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def release() -> None:
        response.release()

    return release


@functools.lru_cache(maxsize=16)
def _client_timeout(timeouts: RequestTimeouts) -> aiohttp.ClientTimeout:
    """In aiohttp's terms (its `connect` includes the wait for a pooled connection)."""
    connect, pool = timeouts.connect_s, timeouts.pool_s
    waiting = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect, sock_read=timeouts.read_s)


def _failure(exc: BaseException) -> TransportError:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Unreachable(message)
    if isinstance(exc, aiohttp.SocketTimeoutError | TimeoutError):
        return TimedOut(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Unreachable(message, retryable=True)
    return BadAnswer(message, retryable=True)
