import httpx
import pytest
from prometheus_client import REGISTRY

from supply_gateway.adapters.upstream import Lane, Upstream, UpstreamFailure
from supply_gateway.domain.breaker import CircuitBreaker
from supply_gateway.domain.policy import RouteClass

from .httpx_transport import HttpxTransport

ANALYTICS, WRITES = RouteClass.ANALYTICS, RouteClass.WRITES


class Switch:
    """An upstream that is down (connection refused) until `up` is set."""

    def __init__(self) -> None:
        self.up = False

    def transport(self) -> HttpxTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            if not self.up:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(200, json={})

        return HttpxTransport(httpx.MockTransport(answer))


def circuit_open(route_class: str) -> float | None:
    return REGISTRY.get_sample_value(
        "gateway_upstream_circuit_open", {"upstream": "metrics-probe", "route_class": route_class}
    )


async def test_the_circuit_gauge_reads_1_while_a_lane_is_open_and_0_once_a_call_succeeds() -> None:
    now = [0.0]
    switch = Switch()
    analytics = Lane(
        "Analytics", breaker=CircuitBreaker(threshold=2, cooldown_s=5, clock=lambda: now[0]), route_class=ANALYTICS
    )
    writes = Lane("Saving sales", route_class=WRITES)
    upstream = Upstream(
        "metrics-probe",
        "http://upstream.invalid",
        transport=switch.transport(),
        lanes={ANALYTICS: analytics, WRITES: writes},
    )
    await upstream.start()
    assert (circuit_open("analytics"), circuit_open("writes"), circuit_open("default")) == (0, 0, 0)

    for _ in range(2):
        with pytest.raises(UpstreamFailure):
            await upstream.send("GET", "/analytics/summary", route_class=ANALYTICS)
    assert (circuit_open("analytics"), circuit_open("writes"), circuit_open("default")) == (1, 0, 0)

    now[0] += 5
    switch.up = True
    await upstream.send("GET", "/analytics/summary", stream=False, route_class=ANALYTICS)
    assert circuit_open("analytics") == 0
