"""HTTP clients for the upstream services: one shared `httpx.AsyncClient` and one breaker each."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass

import httpx

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


class Upstream:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeouts: Timeouts = Timeouts(),
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self.breaker = breaker or CircuitBreaker()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            transport=self._transport,
            timeout=self._timeout(long_running=False),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=64, keepalive_expiry=30),
            headers={"accept-encoding": "identity"},
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

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
    ) -> httpx.Response:
        """Send one request; GETs are retried once on a connection failure. With `stream`, the caller
        must close the response."""
        if self._client is None:
            raise RuntimeError(f"upstream {self.name} not started")
        url = path + (f"?{query}" if query else "")
        attempts = 2 if method == "GET" and content is None else 1
        for attempt in range(1, attempts + 1):
            if not self.breaker.allow():
                raise UpstreamFailure(
                    self.name,
                    503,
                    f"{self.name} is unavailable (circuit open)",
                    retry_after_s=max(1, math.ceil(self.breaker.retry_after_s())),
                )
            request = self._client.build_request(
                method,
                url,
                headers=dict(headers or {}),
                content=content,
                timeout=self._timeout(long_running=long_running),
            )
            try:
                response = await self._client.send(request, stream=stream)
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

    def _failure(self, exc: httpx.TransportError) -> UpstreamFailure:
        log.warning("upstream failed", extra={"upstream": self.name, "error": repr(exc)[:300]})
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return UpstreamFailure(self.name, 503, f"{self.name} cannot be reached", retry_after_s=2)
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamFailure(self.name, 504, f"{self.name} did not answer in time")
        return UpstreamFailure(self.name, 502, f"{self.name} gave no valid answer")
