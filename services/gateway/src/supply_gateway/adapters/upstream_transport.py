"""The connection pool the gateway reaches its upstreams through: aiohttp's, behind httpx's transport API.

httpx's own pool (httpcore) walks every pooled connection, with a readability syscall each, on every
request, and asks `sniffio` for the event loop on every lock and event it makes (a failed import
each time when `sniffio` is not installed): about half of the gateway's CPU per proxied request.
aiohttp keeps idle connections per host in a queue and parses responses in C. The rest of the
gateway still sees `httpx.Request` and `httpx.Response`, and tests swap in their own transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
import httpx

CHUNK_BYTES = 64 * 1024


class AiohttpTransport(httpx.AsyncBaseTransport):
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

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        try:
            data: bytes | AsyncIterator[bytes] = request.content
        except httpx.RequestNotRead:
            data = _request_body(request)
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=[
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in request.headers.raw
                    if name.lower() != b"transfer-encoding"  # aiohttp frames the body itself
                ],
                data=data,
                allow_redirects=False,
                timeout=_timeout(request.extensions.get("timeout", {})),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _transport_error(exc, request) from exc
        return httpx.Response(
            response.status,
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in response.raw_headers],
            stream=_ResponseBody(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode("latin-1")},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _transport_error(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


async def _request_body(request: httpx.Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream:  # type: ignore[union-attr]
        yield chunk


def _timeout(timeouts: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's connect/read/pool timeouts in aiohttp's terms (`connect` there includes the wait for
    a pooled connection)."""
    connect, pool = timeouts.get("connect"), timeouts.get("pool")
    waiting = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect, sock_read=timeouts.get("read"))


def _transport_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that means the same, so callers handle one family of errors."""
    message = str(exc) or type(exc).__name__
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.SocketTimeoutError | TimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientOSError | aiohttp.ClientPayloadError):
        kind = httpx.ReadError
    else:
        kind = httpx.RemoteProtocolError
    return kind(message, request=request)
