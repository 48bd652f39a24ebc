"""The upstream services: one connection pool each, and one circuit breaker and set of timeouts per
route class (lane) on it, so that failures of one class of calls never refuse another's."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from supply_common import tracing
from supply_gateway.adapters.upstream_transport import (
    Body,
    Http1Transport,
    RequestTimeouts,
    TimedOut,
    Transport,
    TransportError,
    Unreachable,
    UpstreamRequest,
    UpstreamResponse,
)
from supply_gateway.domain.breaker import CircuitBreaker, State
from supply_gateway.domain.policy import RouteClass
from supply_gateway.metrics import CIRCUIT_OPEN

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


@dataclass
class Lane:
    """The calls of one route class to an upstream: their timeouts and their own breaker. `service`
    names what they do in the words of the people who use it ("Analytics")."""

    service: str
    timeouts: Timeouts = Timeouts()
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    route_class: RouteClass | None = None


class UpstreamFailure(Exception):
    """The upstream could not give an answer; `status` is what the client gets (502, 503 or 504).
    `reason` says why for machines (`circuit-open`, `unreachable`, `timeout`, `bad-answer`); `detail`
    says it for people, without internal words."""

    def __init__(
        self,
        upstream: str,
        status: int,
        detail: str,
        retry_after_s: int | None = None,
        *,
        reason: str = "unavailable",
        route_class: RouteClass | None = None,
    ) -> None:
        super().__init__(detail)
        self.upstream = upstream
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.route_class = route_class


class Upstream:
    """One upstream service: its connection pool (a transport), shared by its lanes. A call names its
    route class; one without (or of a class the upstream has no lane for) takes the default lane, the
    only one when no `lanes` are given (then made of `timeouts` and `breaker`)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeouts: Timeouts = Timeouts(),
        breaker: CircuitBreaker | None = None,
        transport: Transport | None = None,
        max_connections: int = 200,
        lanes: Mapping[RouteClass, Lane] | None = None,
        default_lane: RouteClass | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.lanes: Mapping[RouteClass, Lane] = dict(lanes or {})
        if default_lane is not None and default_lane in self.lanes:
            self.default_lane = self.lanes[default_lane]
        else:
            self.default_lane = Lane(name, timeouts, breaker or CircuitBreaker())
        self._circuit_open = {
            lane.route_class: CIRCUIT_OPEN.labels(name, lane.route_class.value if lane.route_class else "default")
            for lane in (*self.lanes.values(), self.default_lane)
        }
        for gauge in self._circuit_open.values():
            gauge.set(0)
        self._given_transport = transport
        self.max_connections = max_connections
        self._transport: Transport | None = None

    def lane(self, route_class: RouteClass | None = None) -> Lane:
        if route_class is None:
            return self.default_lane
        return self.lanes.get(route_class, self.default_lane)

    @property
    def breaker(self) -> CircuitBreaker:
        """The default lane's breaker."""
        return self.default_lane.breaker

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
        route_class: RouteClass | None = None,
    ) -> UpstreamResponse:
        """Send one request through the lane of `route_class` (its breaker and timeouts). One that may
        safely be sent twice (`replayable`) is sent again once when the connection failed or broke
        before an answer. With `stream`, the caller must close the response; a body of at most
        `read_up_to` bytes (by Content-Length) is read before returning all the same, so that a
        failure reading it is this upstream's failure too."""
        transport = self._transport
        if transport is None:
            raise RuntimeError(f"upstream {self.name} not started")
        url = self.base_url + path + (f"?{query}" if query else "")
        request_headers = {**(headers or {}), "accept-encoding": "identity"}
        lane = self.lane(route_class)
        tracer = tracing.tracer()
        if tracer is None or tracing.unrecorded():
            if tracer is not None:  # a trace not sampled: its context only goes on, so that nothing records it
                request_headers[tracing.TRACEPARENT] = tracing.traceparent() or ""
            return await self._exchange(
                transport, lane, method, url, request_headers, content, long_running, stream, read_up_to
            )
        # The trace context goes as its own header, beside (never inside) whatever says who calls.
        with tracer.start_as_current_span(
            f"{method} {self.name}",
            kind=tracing.SpanKind.CLIENT,
            attributes={"http.request.method": method, "server.address": self.name, "url.path": path},
        ) as client:
            request_headers[tracing.TRACEPARENT] = tracing.traceparent(client) or ""
            response = await self._exchange(
                transport, lane, method, url, request_headers, content, long_running, stream, read_up_to
            )
            client.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _exchange(
        self,
        transport: Transport,
        lane: Lane,
        method: str,
        url: str,
        request_headers: dict[str, str],
        content: Body,
        long_running: bool,
        stream: bool,
        read_up_to: int,
    ) -> UpstreamResponse:
        limits = lane.timeouts
        timeouts = RequestTimeouts(
            connect_s=limits.connect_s,
            read_s=limits.long_read_s if long_running else limits.read_s,
            pool_s=limits.pool_s,
        )
        request = UpstreamRequest(method, url, request_headers, content, timeouts, read_up_to if stream else None)
        breaker = lane.breaker
        attempts = 2 if replayable(method, request_headers, content) else 1
        for attempt in range(1, attempts + 1):
            if not breaker.allow():
                retry_after_s = max(1, math.ceil(breaker.retry_after_s()))
                raise self._refusal(lane, 503, "circuit-open", retry_after_s)
            try:
                response = await transport.send(request)
            except TransportError as exc:
                breaker.record_failure()
                self._circuit_open[lane.route_class].set(breaker.state is not State.CLOSED)
                if exc.retryable and attempt < attempts:
                    continue
                raise self._failure(lane, exc) from exc
            except BaseException:
                breaker.release()
                raise
            breaker.record_success()
            self._circuit_open[lane.route_class].set(0)
            return response
        raise AssertionError("unreachable")

    def _failure(self, lane: Lane, exc: TransportError) -> UpstreamFailure:
        log.warning(
            "upstream failed",
            extra={
                "upstream": self.name,
                "route_class": lane.route_class.value if lane.route_class else None,
                "error": repr(exc)[:300],
            },
        )
        if isinstance(exc, Unreachable):
            return self._refusal(lane, 503, "unreachable", 2)
        if isinstance(exc, TimedOut):
            return self._refusal(lane, 504, "timeout")
        return self._refusal(lane, 502, "bad-answer")

    def _refusal(self, lane: Lane, status: int, reason: str, retry_after_s: int | None = None) -> UpstreamFailure:
        if status == 503:
            detail = f"{lane.service} is not available right now. Please try again in {retry_after_s} s."
        elif status == 504:
            detail = f"{lane.service} took too long to answer. Please try again."
        else:
            detail = f"{lane.service} failed to answer. Please try again."
        return UpstreamFailure(self.name, status, detail, retry_after_s, reason=reason, route_class=lane.route_class)
