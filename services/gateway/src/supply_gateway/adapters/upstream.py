"""The upstream services: one connection pool and one circuit breaker each, shared by all requests."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

from supply_gateway.adapters.upstream_transport import (
    Body,
    Http1Transport,
    RequestTimeouts,
    TimedOut,
    Transport,
    TransportError,
    Unreachable,
    UpstreamResponse,
)
from supply_gateway.domain.breaker import CircuitBreaker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 1.0
    read_s: float = 10.0
    long_read_s: float = 300.0
    pool_s: float = 2.0


def replayable(method: str, headers: Mapping[str, str], content: Body) -> bool:
    """A GET without a body, or a request with an `Idempotency-Key` whose body is at hand (not a
    stream already spent): the upstream answers a repeat of the latter with the first one's result,
    so a create whose connection broke is neither lost nor made twice."""
    if content is not None and not isinstance(content, bytes):
        return False
    if method == "GET" and content is None:
        return True
    return any(name.lower() == "idempotency-key" for name in headers)


class UpstreamFailure(Exception):
    """The upstream could not give an answer; `status` is what the client gets (502, 503 or 504)."""

    def __init__(self, upstream: str, status: int, detail: str, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.upstream = upstream
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s


class Upstream:
    """One upstream service: its connection pool (a transport) and its breaker."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeouts: Timeouts = Timeouts(),
        breaker: CircuitBreaker | None = None,
        transport: Transport | None = None,
        max_connections: int = 200,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.breaker = breaker or CircuitBreaker()
        self._given_transport = transport
        self.max_connections = max_connections
        self._transport: Transport | None = None
        self._request_timeouts = {
            long_running: RequestTimeouts(
                connect_s=timeouts.connect_s,
                read_s=timeouts.long_read_s if long_running else timeouts.read_s,
                pool_s=timeouts.pool_s,
            )
            for long_running in (False, True)
        }

    async def start(self) -> None:
        self._transport = self._given_transport or Http1Transport(max_connections=self.max_connections)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        content: Body = None,
        long_running: bool = False,
        stream: bool = True,
        read_up_to: int = 0,
    ) -> UpstreamResponse:
        """Send one request. One that may safely be sent twice (`replayable`) is sent again once when
        the connection failed or broke before an answer. With `stream`, the caller must close the
        response; a body of at most `read_up_to` bytes (by Content-Length) is read before returning
        all the same, so that a failure reading it is this upstream's failure too."""
        transport = self._transport
        if transport is None:
            raise RuntimeError(f"upstream {self.name} not started")
        url = self.base_url + path + (f"?{query}" if query else "")
        request_headers = {**(headers or {}), "accept-encoding": "identity"}
        timeouts = self._request_timeouts[long_running]
        attempts = 2 if replayable(method, request_headers, content) else 1
        for attempt in range(1, attempts + 1):
            if not self.breaker.allow():
                raise UpstreamFailure(
                    self.name,
                    503,
                    f"{self.name} is unavailable (circuit open)",
                    retry_after_s=max(1, math.ceil(self.breaker.retry_after_s())),
                )
            try:
                response = await transport.send(
                    method, url, request_headers, content, timeouts, read_up_to if stream else None
                )
            except TransportError as exc:
                self.breaker.record_failure()
                if exc.retryable and attempt < attempts:
                    continue
                raise self._failure(exc) from exc
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record_success()
            return response
        raise AssertionError("unreachable")

    def _failure(self, exc: TransportError) -> UpstreamFailure:
        log.warning("upstream failed", extra={"upstream": self.name, "error": repr(exc)[:300]})
        if isinstance(exc, Unreachable):
            return UpstreamFailure(self.name, 503, f"{self.name} cannot be reached", retry_after_s=2)
        if isinstance(exc, TimedOut):
            return UpstreamFailure(self.name, 504, f"{self.name} did not answer in time")
        return UpstreamFailure(self.name, 502, f"{self.name} gave no valid answer")
