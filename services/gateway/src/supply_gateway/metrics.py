"""Prometheus metrics of the gateway beyond the HTTP ones every service exports."""

from __future__ import annotations

from prometheus_client import Gauge

CIRCUIT_OPEN = Gauge(
    "gateway_upstream_circuit_open",
    "1 while the circuit of a route class to an upstream is open (calls refused, or one trial call let"
    " through), else 0; `route_class` default: calls of no class.",
    ["upstream", "route_class"],
    # With several server processes each has its own breakers: open if any live one's is.
    multiprocess_mode="livemax",
)
