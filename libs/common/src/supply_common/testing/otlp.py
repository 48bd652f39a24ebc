"""An OTLP/HTTP trace receiver for tests: what the services' exporters send, over the network, decoded.

`OtlpReceiver()` listens on a free loopback port (`endpoint` is what `OTEL_EXPORTER_OTLP_ENDPOINT`
takes) and keeps every span it is sent; `wait_for` polls until a condition on them holds. It needs
no collector or Jaeger: the exporters speak the same protocol to it.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from supply_common import tracing


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()
    """(trace id, span id) of each linked span."""

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class OtlpReceiver:
    """Spans received on `endpoint` (`/v1/traces`, protobuf, optionally gzipped). Use as a context
    manager, or `close()` it."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _add(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=service,
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            kind=s.kind,
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in s.links),
                        )
                    )
        with self._lock:
            self.spans.extend(received)

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.snapshot() if s.trace_id == trace_id]

    def wait_for(self, condition: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 20.0) -> list[ReceivedSpan]:
        """The spans received once `condition` holds for them; AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            spans = self.snapshot()
            if condition(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({(s.service, s.name) for s in spans})
                raise AssertionError(f"the spans received never matched; received: {names}")
            time.sleep(0.1)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OtlpReceiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def receiving_spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """A receiver that this process's spans go to, exported promptly, every trace sampled, while the
    block runs (the service name left to the caller of `tracing.start`); tracing is stopped when it ends."""
    with OtlpReceiver() as receiving:
        monkeypatch.setenv(tracing.ENDPOINT_ENV, receiving.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        monkeypatch.setenv(tracing.SAMPLER_ENV, "parentbased_always_on")
        monkeypatch.delenv(tracing.SAMPLER_ARG_ENV, raising=False)
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        try:
            yield receiving
        finally:
            tracing.stop()


PRODUCER = 4
CONSUMER = 5
"""OTLP's span kinds of the relay's publish and the consumer's apply."""


def keyed_trace(spans: list[ReceivedSpan], key: str) -> list[ReceivedSpan]:
    """The spans of the trace in which a record with `key` (a sale id) was published; [] before."""
    published = next(
        (s for s in spans if s.kind == PRODUCER and s.attributes.get("messaging.kafka.message.key") == key), None
    )
    return [] if published is None else [s for s in spans if s.trace_id == published.trace_id]


def assert_created_sale_is_one_trace(trace: list[ReceivedSpan], topic: str) -> ReceivedSpan:
    """Check the trace of a sale created through the gateway (`keyed_trace`): it holds the spans of
    every process on the way to the copy, the projector's apply continues the relay's publish, and
    every span hangs from the gateway's server span (the trace was cut nowhere on the way). Returns
    the publish span."""
    names = {(s.service, s.name) for s in trace}
    assert {
        ("gateway", "POST /api/sales"),
        ("gateway", "POST sales-writer"),
        ("sales-writer", "POST /sales"),
        ("sales-writer", "mysql: write creates"),
        ("sales-writer-relay", f"{topic} publish"),
        ("mongo-projector", f"{topic} apply"),
        ("mongo-projector", "mongo: apply batch"),
    } <= names, describe(trace)
    by_id = {s.span_id: s for s in trace}
    roots = [s for s in trace if s.parent_span_id not in by_id]
    assert [(r.service, r.name) for r in roots] == [("gateway", "POST /api/sales")], describe(trace)
    publish = next(s for s in trace if s.kind == PRODUCER)
    apply = next(s for s in trace if s.kind == CONSUMER)
    assert apply.parent_span_id == publish.span_id, describe(trace)
    return publish


def describe(spans: list[ReceivedSpan]) -> str:
    """A trace as text: one line per span, indented under its parent, with its service and duration."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[ReceivedSpan]] = {}
    for s in spans:
        children.setdefault(s.parent_span_id if s.parent_span_id in by_id else "", []).append(s)
    lines: list[str] = []
    origin = min((s.start_ns for s in spans), default=0)

    def walk(parent: str, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: x.start_ns):
            offset = (s.start_ns - origin) / 1e6
            lines.append(f"{'  ' * depth}{s.service}: {s.name}  +{offset:.1f} ms, {s.duration_ms:.1f} ms")
            walk(s.span_id, depth + 1)

    walk("", 0)
    return "\n".join(lines)
