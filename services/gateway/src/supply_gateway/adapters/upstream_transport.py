"""How the gateway reaches its upstreams: a pool of keep-alive connections, and the answers it gives back.

Every proxied request crosses here, so the transport is kept to what proxying needs: a small
`UpstreamRequest` in and its bytes written, the answer's status, headers and body handed back as a
small `UpstreamResponse` (read whole when short, streamed otherwise): no request or response
objects, header collections or byte streams around an exchange beyond those (docs/README.md says
what httpx's and aiohttp's clients cost here before). Anything else that implements `Transport` can
stand in (tests do).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from multidict import CIMultiDict, CIMultiDictProxy

from supply_common.http_client import (
    ConnectFailed,
    Connection,
    ConnectTimeout,
    HttpError,
    Pool,
    Pools,
    PoolTimeout,
    ReadTimeout,
    Response,
    request_head,
)

Body = bytes | AsyncIterable[bytes] | None


@dataclass(frozen=True)
class RequestTimeouts:
    """Seconds to get a connection (`connect_s`, plus `pool_s` waiting for a pooled one) and
    between bytes of the answer (`read_s`); None waits for ever."""

    connect_s: float | None
    read_s: float | None
    pool_s: float | None


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """One request to send to an upstream, at an absolute `url`. An answer whose Content-Length is
    at most `read_up_to` bytes (any answer when None) comes back read; others stream."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Body
    timeouts: RequestTimeouts
    read_up_to: int | None


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
    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send one request. An answer to read (`UpstreamRequest.read_up_to`) comes back read, so
        that failing to read it raises here; others stream."""
        ...

    async def aclose(self) -> None: ...


class Http1Transport:
    """Keep-alive HTTP/1.1 connections to each upstream (`supply_common.http_client`): at most
    `max_connections` per host and port, idle ones kept `idle_s` (below the upstreams' own 5 s).
    Redirects, cookies and encodings are left alone: what the upstream answers is what the caller
    gets."""

    def __init__(self, *, max_connections: int = 200, idle_s: float = 4.0) -> None:
        self._pools = Pools(max_connections=max_connections, idle_s=idle_s)

    def _pool(self, url: str) -> tuple[Pool, str, str]:
        """The pool for `url`'s host and port, that authority, and the request target."""
        scheme, _, rest = url.partition("://")
        if scheme != "http":
            raise ValueError(f"only plain http upstreams are supported, not {url!r}")
        authority, slash, target = rest.partition("/")
        return self._pools.get(authority), authority, slash + target

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        method, body, timeouts, read_up_to = request.method, request.body, request.timeouts, request.read_up_to
        pool, authority, target = self._pool(request.url)
        head = request_head(method, target, authority, request.headers.items(), body)
        streamed = None if body is None or isinstance(body, bytes) else body
        try:
            connection = await pool.acquire(connect_s=timeouts.connect_s, pool_s=timeouts.pool_s)
        except HttpError as exc:
            raise _failure(exc) from exc
        try:
            response = await connection.exchange(
                head + body if isinstance(body, bytes) else head,
                streamed,
                head_only=method == "HEAD",
                timeout_s=timeouts.read_s,
            )
            length = response.content_length
            if read_up_to is None or (length is not None and length <= read_up_to):
                content = await response.read(timeouts.read_s)
                pool.release(connection)
                return UpstreamResponse(response.status, CIMultiDict(response.headers), content=content)
        except HttpError as exc:
            pool.release(connection)
            raise _failure(exc) from exc
        except BaseException:
            connection.close()
            pool.release(connection)
            raise
        release = _releaser(pool, connection)
        return UpstreamResponse(
            response.status,
            CIMultiDict(response.headers),
            stream=_chunks(response, timeouts.read_s, release),
            release=release,
        )

    async def aclose(self) -> None:
        await self._pools.aclose()


async def _chunks(
    response: Response, read_s: float | None, release: Callable[[], Awaitable[None]]
) -> AsyncIterator[bytes]:
    """The body, giving the connection back as soon as it ends, however it ends: a holder whose
    answer failed half way (Starlette skips a streaming response's background task then) must not
    keep a pool slot for ever."""
    try:
        async for chunk in response.iter_chunks(read_s):
            yield chunk
    except HttpError as exc:
        raise _failure(exc) from exc
    finally:
        await release()


def _releaser(pool: Pool, connection: Connection) -> Callable[[], Awaitable[None]]:
    """Gives the connection back once, whoever asks first (the stream's end or the holder)."""
    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            pool.release(connection)

    return release


def _failure(exc: HttpError) -> TransportError:
    """Only a refused connection or one that broke may be retried (for a safe request): a wait that
    ran out already cost the caller its time."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, PoolTimeout | ConnectTimeout):
        return Unreachable(message)
    if isinstance(exc, ReadTimeout):
        return TimedOut(message)
    if isinstance(exc, ConnectFailed):
        return Unreachable(message, retryable=True)
    return BadAnswer(message, retryable=True)
