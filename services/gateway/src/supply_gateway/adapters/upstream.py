"""The upstream services: one connection pool and one circuit breaker each, shared by all requests."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass

import httpx

from supply_gateway.adapters.upstream_transport import AiohttpTransport
from supply_gateway.domain.breaker import CircuitBreaker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 1.0
    read_s: float = 10.0
    long_read_s: float = 300.0
    pool_s: float = 2.0


class UpstreamFailure(Exception):
    """The upstream could not give an answer; `status` is what the client gets (502, 503 or 504)."""

    def __init__(self, upstream: str, status: int, detail: str, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.upstream = upstream
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s


_RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)
KEEPALIVE_S = 30.0


@functools.lru_cache(maxsize=4096)
def _parsed_url(url: str) -> httpx.URL:
    """httpx parses and checks a URL string for every request it is given (a thirtieth of the gateway's
    CPU per proxied create); most requests go to a few URLs again and again. `httpx.URL` is immutable."""
    return httpx.URL(url)


def _short(response: httpx.Response, limit: int) -> bool:
    length = response.headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= limit


class Upstream:
    """One upstream service: its connection pool (a transport) and its breaker.

    Requests go straight to the transport, without an `httpx.AsyncClient` on top: nothing here needs
    its base-URL merging, default headers, redirects or auth hooks, and its cookie jar would keep
    cookies an upstream set and send them on for every later caller."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeouts: Timeouts = Timeouts(),
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 200,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self.breaker = breaker or CircuitBreaker()
        self._given_transport = transport
        self.max_connections = max_connections
        self._transport: httpx.AsyncBaseTransport | None = None
        self._extensions = {
            long_running: {"timeout": self._timeout(long_running=long_running).as_dict()}
            for long_running in (False, True)
        }

    async def start(self) -> None:
        self._transport = self._given_transport or AiohttpTransport(
            max_connections=self.max_connections, keepalive_s=KEEPALIVE_S
        )

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    def _timeout(self, *, long_running: bool) -> httpx.Timeout:
        read = self.timeouts.long_read_s if long_running else self.timeouts.read_s
        return httpx.Timeout(connect=self.timeouts.connect_s, read=read, write=read, pool=self.timeouts.pool_s)

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        long_running: bool = False,
        stream: bool = True,
        read_up_to: int = 0,
    ) -> httpx.Response:
        """Send one request; GETs are retried once on a connection failure. With `stream`, the caller
        must close the response; a body of at most `read_up_to` bytes (by Content-Length) is read
        before returning all the same, so that a failure reading it is this upstream's failure too."""
        if self._transport is None:
            raise RuntimeError(f"upstream {self.name} not started")
        url = _parsed_url(self.base_url + path + (f"?{query}" if query else ""))
        attempts = 2 if method == "GET" and content is None else 1
        for attempt in range(1, attempts + 1):
            if not self.breaker.allow():
                raise UpstreamFailure(
                    self.name,
                    503,
                    f"{self.name} is unavailable (circuit open)",
                    retry_after_s=max(1, math.ceil(self.breaker.retry_after_s())),
                )
            request = httpx.Request(
                method,
                url,
                headers={**(headers or {}), "accept-encoding": "identity"},
                content=content,
                extensions=self._extensions[long_running],
            )
            try:
                response = await self._exchange(request, stream=stream, read_up_to=read_up_to)
            except _RETRYABLE as exc:
                self.breaker.record_failure()
                if attempt < attempts:
                    continue
                raise self._failure(exc) from exc
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                raise self._failure(exc) from exc
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record_success()
            return response
        raise AssertionError("unreachable")

    async def _exchange(self, request: httpx.Request, *, stream: bool, read_up_to: int) -> httpx.Response:
        assert self._transport is not None
        response = await self._transport.handle_async_request(request)
        response.request = request
        if stream and not _short(response, read_up_to):
            return response
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    def _failure(self, exc: httpx.TransportError) -> UpstreamFailure:
        log.warning("upstream failed", extra={"upstream": self.name, "error": repr(exc)[:300]})
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return UpstreamFailure(self.name, 503, f"{self.name} cannot be reached", retry_after_s=2)
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamFailure(self.name, 504, f"{self.name} did not answer in time")
        return UpstreamFailure(self.name, 502, f"{self.name} gave no valid answer")
