"""Traces across the services with OpenTelemetry, whole in one module (the provider, the sampling
decisions taken before the SDK and every hook that reads them share its state): W3C trace context
over HTTP (`traceparent`), kept in the outbox row with the change, and sent as a Kafka record header.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then `start` loads nothing, no provider is installed,
`tracer()` is None and every hook here returns before doing any work, so the request and event paths
run as they would without tracing. On: one SDK `TracerProvider` per process, whose spans are batched
and exported over OTLP/HTTP (protobuf) to the endpoint; the SDK's other `OTEL_*` variables apply
(`OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_EXPORTER_OTLP_HEADERS`, ...). While on, every
log line written inside a span carries that span's `trace_id` and `span_id` (`supply_common.logs`).

Sampling is decided once, where a trace starts (the gateway, or a relay or consumer batch that
belongs to no request), and every later hop follows it through the `traceparent` flags. The sampler
is the standard `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`, `traceidratio`,
`parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`) with its ratio in
`OTEL_TRACES_SAMPLER_ARG`, or `parentbased_ratelimiting` (Jaeger's rate-limiting sampler under the
parent-based rule) with new traces a second in the same variable; unset, it is
`parentbased_ratelimiting` at `DEFAULT_TRACES_PER_S` per process: every request while traffic is
below that (an operator finds the trace of the sale in hand), a steady number of traces under load,
whose cost and volume do not grow with the traffic as a fixed ratio's do. Under a sampler that
follows the parent, a hop whose trace is not sampled makes no span at all: it passes the
`traceparent` on as it came (so that later hops know) and nothing else, without calling the SDK;
where a trace starts under the default sampler or a ratio, the trace id is drawn and the decision
taken first, and the SDK called only for a trace that is recorded.

The trace context never carries identity: it is a trace id, a span id and flags, and a service that
continues a trace takes nothing else from it.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, StatusCode, TraceFlags, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supply_common.logs import follow_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler

__all__ = [
    "DEFAULT_TRACES_PER_S",
    "ENDPOINT_ENV",
    "RATE_LIMITING",
    "SAMPLER_ARG_ENV",
    "SAMPLER_ENV",
    "TRACEPARENT",
    "KafkaRecord",
    "Link",
    "Span",
    "SpanKind",
    "TracingMiddleware",
    "context_of",
    "links_to",
    "mark_failed",
    "no_parent",
    "parent_from",
    "record_span",
    "records",
    "sampled",
    "span",
    "span_ids",
    "start",
    "stop",
    "trace_id_of",
    "traceparent",
    "tracer",
    "under",
    "unrecorded",
]

log = logging.getLogger(__name__)

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SAMPLER_ENV = "OTEL_TRACES_SAMPLER"
SAMPLER_ARG_ENV = "OTEL_TRACES_SAMPLER_ARG"
RATE_LIMITING = "parentbased_ratelimiting"
DEFAULT_TRACES_PER_S = 10.0
"""New traces a process records at most each second when `OTEL_TRACES_SAMPLER` is unset (`RATE_LIMITING`)."""
TRACEPARENT = "traceparent"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

_tracer: Tracer | None = None
_provider: Any = None
_follows_parent = False
"""Whether the sampler records a span exactly when its parent was recorded (parent-based samplers),
so that a hop under a trace not sampled can skip the SDK altogether."""
_new_trace: Callable[[int], bool] | None = None
"""Under the default sampler or `parentbased_traceidratio`: whether a trace starting here with the
given id is recorded, decided as the SDK's sampler decides (a token of the rate limit; the id's low 64
bits below the ratio's bound), so that the decision can be taken before calling the SDK."""
_LOW_64 = (1 << 64) - 1
_passed: ContextVar[str | None] = ContextVar("supply_unsampled_traceparent", default=None)
"""The `traceparent` of the trace not sampled that the task works for, under a sampler that follows
the parent: passed on as it is, with no SDK span current."""
_drawn: ContextVar[int | None] = ContextVar("supply_drawn_trace_id", default=None)
"""The trace id drawn for a trace that starts here, for the SDK's root span to take."""


def start(service: str, environ: Mapping[str, str] | None = None, *, exporter: SpanExporter | None = None) -> bool:
    """Trace this process as `service` (`OTEL_SERVICE_NAME` wins) when an OTLP endpoint is set, or
    into `exporter` (an SDK `SpanExporter`, each span handed over as it ends) when one is given;
    whether it does. Safe to call again: the first call's provider stays."""
    global _tracer, _provider, _follows_parent, _new_trace
    if _tracer is not None:
        return True
    env = os.environ if environ is None else environ
    if exporter is None and not (env.get(ENDPOINT_ENV) or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    sampler, follows_parent, new_trace = _sampler(env)
    provider = TracerProvider(
        resource=_resource(env.get("OTEL_SERVICE_NAME") or service), sampler=sampler, id_generator=_drawn_ids()
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider, _tracer, _follows_parent = provider, provider.get_tracer("supply_store"), follows_parent
    _new_trace = new_trace
    follow_spans(span_ids)
    log.info(
        "tracing on",
        extra={"service": service, "endpoint": env.get(ENDPOINT_ENV), "sampler": sampler.get_description()},
    )
    return True


def _sampler(env: Mapping[str, str]) -> tuple[Sampler, bool, Callable[[int], bool] | None]:
    """The sampler `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` name (the OpenTelemetry names and
    meanings, and `RATE_LIMITING`; unset or unknown: `RATE_LIMITING` at the given rate, else
    `DEFAULT_TRACES_PER_S`), whether it follows the parent's decision, and where the decision for a new
    trace can be taken before calling the SDK, that decision (`_new_trace`)."""
    from opentelemetry.sdk.trace import sampling

    name = (env.get(SAMPLER_ENV) or "").strip().lower()
    given = (env.get(SAMPLER_ARG_ENV) or "").strip()
    fixed: dict[str, tuple[Sampler, bool, Callable[[int], bool] | None]] = {
        "always_on": (sampling.ALWAYS_ON, False, None),
        "always_off": (sampling.ALWAYS_OFF, False, None),
        "parentbased_always_on": (sampling.ParentBased(sampling.ALWAYS_ON), True, None),
        "parentbased_always_off": (sampling.ParentBased(sampling.ALWAYS_OFF), True, None),
    }
    if name in fixed:
        return fixed[name]
    if name in {"traceidratio", "parentbased_traceidratio"}:
        ratio = _argument(given, "a ratio from 0 to 1", lambda v: 0.0 <= v <= 1.0)
        root = sampling.TraceIdRatioBased(1.0 if ratio is None else ratio)  # no ratio: the whole, as OpenTelemetry says
        if name == "traceidratio":
            return root, False, None
        return sampling.ParentBased(root), True, lambda trace_id: trace_id & _LOW_64 < root.bound
    if name and name != RATE_LIMITING:
        log.warning("tracing: unknown %s; the default sampler is used", SAMPLER_ENV, extra={"value": name})
    per_s = _argument(given, "a number of traces a second, 0 or more", lambda v: v >= 0.0)
    limit = _RateLimit(DEFAULT_TRACES_PER_S if per_s is None else per_s)
    return sampling.ParentBased(_rate_limiting(limit)), True, lambda _trace_id: limit.take()


def _argument(given: str, meaning: str, valid: Callable[[float], bool]) -> float | None:
    """`OTEL_TRACES_SAMPLER_ARG` as a number the sampler takes; None (and a warning) for anything else."""
    if not given:
        return None
    try:
        value = float(given)
    except ValueError:
        value = None
    if value is None or not valid(value):
        log.warning("tracing: %s is not %s; ignored", SAMPLER_ARG_ENV, meaning, extra={"value": given})
        return None
    return value


class _RateLimit:
    """A token bucket: `per_s` tokens a second, holding at most one second's worth (at least one token),
    so that after a quiet spell a burst records no more than a second's share."""

    def __init__(self, per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_s = per_s
        self.capacity = max(per_s, 1.0) if per_s > 0 else 0.0
        self.tokens = self.capacity
        self.clock = clock
        self.at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Whether a token was there (and is now taken)."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_s)
            self.at = now
            if self.tokens < 1.0:
                return False
            self.tokens -= 1.0
            return True


def _rate_limiting(limit: _RateLimit) -> Sampler:
    """The SDK's root sampler for `RATE_LIMITING`: a new trace is recorded when the limit has a token,
    or when its id was drawn where the token was already taken (`TracingMiddleware`)."""
    from opentelemetry.sdk.trace import sampling

    class RateLimiting(sampling.Sampler):
        def should_sample(
            self,
            parent_context: Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Sequence[Link] | None = None,
            trace_state: Any = None,
        ) -> sampling.SamplingResult:
            if _drawn.get() == trace_id or limit.take():
                return sampling.SamplingResult(sampling.Decision.RECORD_AND_SAMPLE, attributes)
            return sampling.SamplingResult(sampling.Decision.DROP)

        def get_description(self) -> str:
            return f"RateLimiting{{{limit.per_s:g}/s}}"

    return RateLimiting()


def _resource(service: str) -> Any:
    """The process's SDK `Resource`, its hash computed once: the OTLP encoder looks every span's
    resource up by hash, and the SDK's own hash serialises the attributes to JSON on each call."""
    from opentelemetry.sdk.resources import Resource

    class FixedResource(Resource):
        def __init__(self, attributes: Any, schema_url: str | None = None) -> None:
            super().__init__(attributes, schema_url)
            self._hash = super().__hash__()

        def __hash__(self) -> int:
            return self._hash

    created = Resource.create({"service.name": service})
    return FixedResource(created.attributes, created.schema_url)


def _drawn_ids() -> Any:
    """The SDK's random ids, except that a root span takes the trace id drawn for it (`_drawn`)."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class DrawnIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            drawn = _drawn.get()
            return drawn if drawn is not None else super().generate_trace_id()

    return DrawnIds()


def stop() -> None:
    """Export what is pending and switch tracing off (a process that stops, tests)."""
    global _tracer, _provider, _follows_parent, _new_trace
    provider, _provider, _tracer, _follows_parent, _new_trace = _provider, None, None, False, None
    follow_spans(None)
    if provider is not None:
        provider.force_flush()
        provider.shutdown()


def tracer() -> Tracer | None:
    """The process's tracer, or None when tracing is off."""
    return _tracer


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    links: Sequence[Link] = (),
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A span made current for the block (None, and nothing done, when tracing is off or the span
    would not be recorded: its parent, `parent` or else the current span, is in a trace not sampled)."""
    current = _tracer
    if current is None or (_follows_parent and _not_recorded_under(parent)):
        yield None
        return
    with current.start_as_current_span(name, context=parent, kind=kind, links=links, attributes=attributes) as started:
        yield started


class KafkaRecord(Protocol):
    """What a span of one Kafka record is made from: its topic, key and the trace it came in."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def traceparent(self) -> str | bytes | None: ...


def record_span(
    current: Tracer,
    operation: str,
    kind: SpanKind,
    record: KafkaRecord,
    attributes: Mapping[str, Any],
    *,
    start_time: int | None = None,
) -> Span:
    """A started span for one Kafka record (`publish`, `apply`, ...), named and described as
    OpenTelemetry's messaging conventions say, continuing the trace the record's `traceparent` names."""
    return current.start_span(
        f"{record.topic} {operation}",
        context=parent_from(record.traceparent),
        kind=kind,
        start_time=start_time,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": record.topic,
            "messaging.kafka.message.key": (record.key or b"").decode("latin-1"),
            **attributes,
        },
    )


def traceparent(of: Span | None = None) -> str | None:
    """The W3C `traceparent` of a span (default: the current one), or None when there is none."""
    if _tracer is None:
        return None
    context = (of or trace.get_current_span()).get_span_context()
    if not context.is_valid:
        return _passed.get() if of is None else None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def sampled(value: str | bytes | None) -> bool:
    """Whether a `traceparent` names a trace that was sampled (recorded where it started)."""
    context = context_of(value)
    return context is not None and context.trace_flags.sampled


def records(value: str | bytes | None) -> bool:
    """Whether a span continuing the trace a `traceparent` names may be recorded here: tracing is on,
    and the trace was sampled or the sampler does not follow the parent's decision. A hop skips the
    spans of a record for which this is False (the record still carries its `traceparent` on)."""
    if _tracer is None or not value:
        return False
    return not _follows_parent or sampled(value)


def unrecorded() -> bool:
    """Whether a child of the current span would not be recorded (it is in a trace not sampled and the
    sampler follows the parent): the caller makes no span and passes `traceparent()` on as it is."""
    return _follows_parent and _not_recorded_under(None)


def _not_recorded_under(parent: Context | None) -> bool:
    """Whether a span under `parent` (None: the current span, or the trace not sampled passed on) is
    in a trace not sampled."""
    context = trace.get_current_span(parent).get_span_context()
    if context.is_valid:
        return not context.trace_flags.sampled
    return parent is None and _passed.get() is not None


def _unsampled_header(value: bytes | None) -> str | None:
    """An incoming `traceparent` naming a trace not sampled, as text; None for any other value."""
    found = _traceparent_fields(value)
    return None if found is None or int(found[3], 16) & 1 else found[0]


def _traceparent_fields(value: str | bytes | None) -> tuple[str, str, str, str] | None:
    """A W3C `traceparent` (version 00, neither id all zeros) as its text, trace id, span id and
    flags; None for anything else."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    found = _TRACEPARENT.match(value) if value else None
    if found is None or found.group(1) == "0" * 32 or found.group(2) == "0" * 16:
        return None
    return found.group(0), found.group(1), found.group(2), found.group(3)


def span_ids() -> tuple[str, str] | None:
    """The current span's trace id (32 hex digits) and span id (16), or None outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        passed = _passed.get()
        return None if passed is None else (passed[3:35], passed[36:52])
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def trace_id_of(value: str | bytes | None) -> str | None:
    """The trace id (32 hex digits) a `traceparent` names, or None for anything else."""
    found = _traceparent_fields(value)
    return None if found is None else found[1]


def context_of(value: str | bytes | None) -> SpanContext | None:
    """The remote span context a `traceparent` names, or None when it names none."""
    found = _traceparent_fields(value)
    if found is None:
        return None
    _, trace_id, span_id, flags = found
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16)))


def parent_from(value: str | bytes | None) -> Context | None:
    """A context whose current span is the remote one a `traceparent` names (for `parent=`), or None."""
    remote = context_of(value)
    return None if remote is None else trace.set_span_in_context(NonRecordingSpan(remote))


def under(parent: Span) -> Context:
    """A context whose current span is `parent` (for `parent=` of a span that is not made current)."""
    return trace.set_span_in_context(parent)


def no_parent() -> Context:
    """A context with no span in it (for `parent=` of a span that starts a trace of its own whatever
    span is current)."""
    return Context()


def links_to(spans: Sequence[Span]) -> list[Link]:
    """Links to spans of other traces that one span (a batch's) works for."""
    return [Link(s.get_span_context()) for s in spans]


def mark_failed(target: Span | None, error: BaseException | str) -> None:
    """Set a span's status to error, described by the error's class name (or the text given)."""
    if target is not None:
        target.set_status(StatusCode.ERROR, error if isinstance(error, str) else type(error).__name__)


def _trace_id() -> int:
    """A new random trace id (never the invalid 0), as the SDK draws one."""
    while True:
        drawn = random.getrandbits(128)
        if drawn:
            return drawn


class TracingMiddleware:
    """ASGI: a server span per HTTP request, named by method and route template once routed.

    `trust_incoming`: continue the caller's `traceparent` (a service behind the gateway); the public
    door starts its own traces instead, so that nobody outside picks the trace ids. Installed only
    while tracing is on."""

    def __init__(self, app: ASGIApp, *, trust_incoming: bool = True) -> None:
        self.app = app
        self.trust_incoming = trust_incoming

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        current = _tracer
        if current is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = None
        drawn: int | None = None
        if self.trust_incoming:
            given = next((value for name, value in scope.get("headers") or () if name == b"traceparent"), None)
            passed = _unsampled_header(given) if _follows_parent else None
            if passed is None:
                parent = parent_from(given)
        elif _new_trace is not None:
            drawn = _trace_id()
            passed = None if _new_trace(drawn) else f"00-{drawn:032x}-{random.getrandbits(64):016x}-00"
        else:
            passed = None
        if passed is not None:
            # Not sampled where the trace started: no span here, the context only passed on.
            token = _passed.set(passed)
            try:
                await self.app(scope, receive, send)
            finally:
                _passed.reset(token)
            return
        method = scope["method"]
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        attributes = {"http.request.method": method, "url.path": scope["path"]}
        chosen = _drawn.set(drawn)
        try:
            server = current.start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        finally:
            _drawn.reset(chosen)
        with trace.use_span(server, end_on_exit=True, record_exception=False):
            try:
                await self.app(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    server.update_name(f"{method} {route}")
                    server.set_attribute("http.route", route)
                request_id = (scope.get("state") or {}).get("request_id")
                if request_id:
                    server.set_attribute("supply.request_id", request_id)
                server.set_attribute("http.response.status_code", status)
                if status >= 500:
                    server.set_status(StatusCode.ERROR)
