"""Tracing: off without an endpoint (no provider, no middleware, no context written anywhere); on, a
service's spans reach an OTLP receiver over the network, continuing the caller's trace when trusted."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from supply_common import tracing
from supply_common.testing.clock import ManualClock
from supply_common.testing.otlp import OtlpReceiver
from supply_common.web import create_app

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def test_without_an_endpoint_nothing_is_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracing.ENDPOINT_ENV, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.start("svc") is False
    assert tracing.tracer() is None
    assert tracing.traceparent() is None
    with tracing.span("work") as started:
        assert started is None
    app = create_app(service="svc", title="t")
    assert all(m.cls is not tracing.TracingMiddleware for m in app.user_middleware)


def test_a_request_is_a_server_span_that_continues_the_callers_trace(span_receiver: OtlpReceiver) -> None:
    app = create_app(service="svc", title="t")
    seen: dict[str, str | None] = {}

    @app.get("/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        seen["inside"] = tracing.traceparent()
        return {"id": thing_id}

    with TestClient(app) as client:
        assert client.get("/things/7", headers={"traceparent": CALLER, "x-request-id": "r-1"}).status_code == 200
    tracing.stop()
    (server,) = [s for s in span_receiver.snapshot() if s.name == "GET /things/{thing_id}"]
    assert server.service == "svc"
    assert server.trace_id == CALLER_TRACE
    assert server.parent_span_id == "b7ad6b7169203331"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["supply.request_id"] == "r-1"
    assert tracing.trace_id_of(seen["inside"]) == CALLER_TRACE


def test_the_public_door_starts_its_own_trace(span_receiver: OtlpReceiver) -> None:
    app = create_app(service="door", title="t", trust_incoming_traces=False)

    @app.get("/x")
    def x() -> dict[str, str]:
        return {}

    with TestClient(app) as client:
        client.get("/x", headers={"traceparent": CALLER})
    tracing.stop()
    (server,) = [s for s in span_receiver.snapshot() if s.name == "GET /x"]
    assert server.trace_id != CALLER_TRACE
    assert server.parent_span_id == ""


UNSAMPLED = f"00-{CALLER_TRACE}-b7ad6b7169203331-00"


def _app(inside: list[str | None], *, door: bool = False, with_a_root: bool = False) -> TestClient:
    """A service (or, `door`, the public door) whose one route notes the `traceparent` it runs under
    (and, `with_a_root`, that of a span starting a trace of its own, as a batch of no request does)."""
    app = create_app(service="door" if door else "svc", title="t", trust_incoming_traces=not door)

    @app.get("/x")
    def x() -> dict[str, str]:
        inside.append(tracing.traceparent())
        if with_a_root:
            with tracing.span("a batch of no request", parent=tracing.no_parent()) as root:
                inside.append(tracing.traceparent(root))
        return {}

    return TestClient(app)


def test_by_default_a_caller_not_sampled_gets_no_span_and_its_context_goes_on(
    span_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tracing.SAMPLER_ENV)
    seen: list[str | None] = []
    with _app(seen) as client:
        assert client.get("/x", headers={"traceparent": UNSAMPLED}).status_code == 200
        unsampled_inside = seen[0]
        assert client.get("/x", headers={"traceparent": CALLER}).status_code == 200
    tracing.stop()
    assert unsampled_inside == UNSAMPLED
    assert not tracing.sampled(unsampled_inside)
    assert [(s.name, s.trace_id) for s in span_receiver.snapshot()] == [("GET /x", CALLER_TRACE)]


@pytest.mark.parametrize(
    ("sampler", "argument", "new_traces", "caller_spans"),
    [
        ("", "0", 0, 1),  # the default follows the caller: its sampled trace only
        ("", "100", 5, 1),  # the default's argument: new traces a second
        ("parentbased_ratelimiting", "2", 2, 1),  # five at once: the first two
        ("parentbased_ratelimiting", "-1", 5, 1),  # not a rate: the default's ten a second
        ("parentbased_traceidratio", "1", 5, 1),
        ("parentbased_traceidratio", "", 5, 1),  # named without a ratio: every new trace
        ("parentbased_always_off", "", 0, 1),
        ("always_on", "", 5, 2),  # the caller's decision ignored
        ("traceidratio", "0", 0, 0),
    ],
)
def test_the_standard_variables_choose_the_sampler(
    span_receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    sampler: str,
    argument: str,
    new_traces: int,
    caller_spans: int,
) -> None:
    monkeypatch.setenv(tracing.SAMPLER_ENV, sampler)
    monkeypatch.setenv(tracing.SAMPLER_ARG_ENV, argument)
    with _app([]) as client:
        for _ in range(5):
            client.get("/x")
        client.get("/x", headers={"traceparent": UNSAMPLED})
        client.get("/x", headers={"traceparent": CALLER})
    tracing.stop()
    traces = [s.trace_id for s in span_receiver.snapshot()]
    assert len(set(traces) - {CALLER_TRACE}) == new_traces
    assert traces.count(CALLER_TRACE) == caller_spans


def test_the_rate_limit_grants_its_rate_and_holds_at_most_a_seconds_worth() -> None:
    clock = ManualClock(100.0)
    limit = tracing._RateLimit(10, clock)
    assert sum(limit.take() for _ in range(15)) == 10  # a second's worth at once
    clock.now += 0.25
    assert sum(limit.take() for _ in range(15)) == 2  # a quarter of a second: two and a half tokens
    clock.now += 60
    assert sum(limit.take() for _ in range(15)) == 10  # a quiet minute saves no more than a second's worth
    slow = tracing._RateLimit(0.5, clock)
    assert [slow.take(), slow.take()] == [True, False]
    clock.now += 1.9
    assert not slow.take()
    clock.now += 0.2
    assert slow.take()
    never = tracing._RateLimit(0, clock)
    clock.now += 1000
    assert not never.take()


def test_the_public_door_records_new_traces_up_to_the_rate_and_the_sdk_agrees(
    span_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tracing.SAMPLER_ENV)
    monkeypatch.setenv(tracing.SAMPLER_ARG_ENV, "3")
    inside: list[str | None] = []
    started = time.monotonic()
    with _app(inside, door=True, with_a_root=True) as client:
        for _ in range(10):
            assert client.get("/x").status_code == 200
    elapsed = time.monotonic() - started
    tracing.stop()
    requests, roots = inside[0::2], inside[1::2]
    recorded = {s.trace_id for s in span_receiver.snapshot() if s.name == "GET /x"}
    sampled = {tracing.trace_id_of(t) for t in requests if tracing.sampled(t)}
    assert recorded == sampled  # the door's decision and the SDK's are one: no token taken twice
    assert len({tracing.trace_id_of(t) for t in requests}) == 10  # every request a trace of its own
    # Three tokens at the start, three more a second; the requests' and the other roots' share them.
    granted = len(recorded) + sum(tracing.sampled(root) for root in roots)
    assert 3 <= granted <= 3 + int(3 * elapsed)
    assert len(recorded) >= 1


def test_a_sampled_traceparent_is_told_from_one_not_sampled() -> None:
    assert tracing.sampled(CALLER)
    assert tracing.sampled(CALLER.encode())
    assert not tracing.sampled(UNSAMPLED)
    assert not tracing.sampled(None)
    assert not tracing.records(CALLER)  # tracing is off


def test_traceparent_parsing_refuses_what_is_not_one() -> None:
    assert tracing.context_of(CALLER) is not None
    assert tracing.trace_id_of(CALLER.encode()) == CALLER_TRACE
    no_trace = "00-" + "0" * 32 + "-b7ad6b7169203331-01"
    for bad in (None, "", "00-xyz", f"01-{CALLER_TRACE}-b7ad6b7169203331-01", no_trace):
        assert tracing.context_of(bad) is None
        assert tracing.trace_id_of(bad) is None


def test_the_public_door_records_a_new_trace_as_the_ratio_sampler_decides_by_its_id(
    span_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tracing.SAMPLER_ENV, "parentbased_traceidratio")
    monkeypatch.setenv(tracing.SAMPLER_ARG_ENV, "0.5")
    inside: list[str | None] = []
    with _app(inside, door=True) as client:
        for _ in range(40):
            assert client.get("/x").status_code == 200
    tracing.stop()
    recorded = {s.trace_id for s in span_receiver.snapshot() if s.name == "GET /x"}
    sampled = {tracing.trace_id_of(t) for t in inside if tracing.sampled(t)}
    assert len({tracing.trace_id_of(t) for t in inside}) == 40  # every request a trace of its own
    assert recorded == sampled
    assert 0 < len(recorded) < 40
    bound = round(0.5 * 2**64)  # the SDK's TraceIdRatioBased rule: the id's low 64 bits under the bound
    for value in inside:
        trace_id = tracing.trace_id_of(value)
        assert trace_id is not None
        assert (int(trace_id, 16) & (2**64 - 1) < bound) == tracing.sampled(value)


def test_inside_a_trace_not_sampled_nothing_is_made_and_log_lines_carry_its_ids(
    span_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tracing.SAMPLER_ENV)
    app = create_app(service="svc", title="t")
    seen: dict[str, object] = {}

    @app.get("/x")
    def x() -> dict[str, str]:
        with tracing.span("work") as work:
            seen["span"] = work
        seen["unrecorded"] = tracing.unrecorded()
        seen["ids"] = tracing.span_ids()
        with tracing.span("a root of its own", parent=tracing.no_parent()) as root:
            seen["root"] = root
        return {}

    with TestClient(app) as client:
        assert client.get("/x", headers={"traceparent": UNSAMPLED}).status_code == 200
    tracing.stop()
    assert seen["span"] is None
    assert seen["unrecorded"] is True
    assert seen["ids"] == (CALLER_TRACE, "b7ad6b7169203331")
    assert seen["root"] is not None  # a span given its parent is decided by that parent, not passed over
    assert tracing.span_ids() is None  # nothing is left behind once the request is done
    assert all(s.trace_id != CALLER_TRACE for s in span_receiver.snapshot())
