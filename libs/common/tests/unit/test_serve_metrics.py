"""Metrics of processes without an HTTP API: on their own port, or not at all."""

from __future__ import annotations

import socket
import urllib.request

from prometheus_client import Counter

from supply_common.serve import serve_metrics
from supply_common.testing.deployment import free_port

PROBE = Counter("supply_test_probe_total", "Counted by the metrics test.")


def test_a_port_serves_the_process_metrics() -> None:
    port = free_port()
    PROBE.inc()
    assert serve_metrics(port, "127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"supply_test_probe_total 1.0" in response.read()


def test_no_port_means_no_server_and_a_taken_port_is_not_fatal() -> None:
    assert not serve_metrics(0, "127.0.0.1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert not serve_metrics(taken.getsockname()[1], "127.0.0.1")
