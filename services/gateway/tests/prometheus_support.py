"""A Prometheus for the gateway's tests: a small real HTTP server answering `/api/v1/query_range` and
`/api/v1/alerts` in Prometheus's JSON shape, with what the test sets (the shared Prometheus cannot
scrape a test's processes)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ALERTS = {
    "alerts": [
        {
            "labels": {"alertname": "DeadLettersGrowing", "severity": "warning"},
            "annotations": {"summary": "Events went to the DLQ in the last 10 minutes"},
            "state": "firing",
            "activeAt": "2026-12-06T14:40:00.000Z",
            "value": "2e+00",
        },
        {
            "labels": {
                "alertname": "TargetDown",
                "instance": "127.0.0.1:8000",
                "job": "gateway",
                "severity": "warning",
            },
            "annotations": {"summary": "Prometheus cannot scrape gateway at 127.0.0.1:8000"},
            "state": "pending",
            "activeAt": "2026-12-06T14:48:48.267Z",
            "value": "0e+00",
        },
        {
            "labels": {"alertname": "RelayNotPublishing", "severity": "critical"},
            "annotations": {"summary": "No relay holds the outbox publish lock"},
            "state": "firing",
            "activeAt": "2026-12-06T14:48:24.176Z",
            "value": "0e+00",
        },
    ]
}
"""As Debian's Prometheus 2.42 answers `/api/v1/alerts` (`data`), trimmed."""


class FakePrometheus:
    """`/api/v1/query_range` and `/api/v1/alerts` over HTTP, with the answers the test sets."""

    def __init__(self) -> None:
        self.series: dict[str, list[tuple[float, str]]] = {}
        self.alerts: dict[str, Any] = {"alerts": []}
        self.failing = False
        self.asked: list[dict[str, list[str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                owner.asked.append({"path": [url.path], **query})
                if owner.failing:
                    self._answer(503, {"status": "error", "errorType": "unavailable", "error": "down"})
                elif url.path == "/api/v1/query_range":
                    values = owner.series.get(query["query"][0])
                    result = [] if values is None else [{"metric": {}, "values": [[t, v] for t, v in values]}]
                    self._answer(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
                elif url.path == "/api/v1/alerts":
                    self._answer(200, {"status": "success", "data": owner.alerts})
                else:
                    self._answer(404, {"status": "error"})

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
