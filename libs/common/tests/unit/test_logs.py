"""JSON log lines: the service and request id always; with tracing on, the ids of the span current when
the line is written (the ids its exported span has), and none outside a span or with tracing off."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from supply_common import tracing
from supply_common.logs import json_handler, request_id_var


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    written = io.StringIO()
    logger = logging.getLogger("test.logs")
    logger.handlers[:] = [json_handler("svc", written)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, written
    logger.handlers[:] = []


def _written(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_inside_a_span_names_that_span_and_one_outside_names_none(
    lines: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, written = lines
    monkeypatch.delenv(tracing.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv(tracing.SAMPLER_ENV, "parentbased_always_on")
    exported = InMemorySpanExporter()
    assert tracing.start("svc", exporter=exported)
    try:
        token = request_id_var.set("r-7")
        with tracing.span("outer"):
            logger.info("in the outer span")
            with tracing.span("inner"):
                logger.info("in the inner span")
        request_id_var.reset(token)
        logger.info("after the spans")
    finally:
        tracing.stop()
    outer_line, inner_line, after = _written(written)
    spans = {s.name: s.get_span_context() for s in exported.get_finished_spans()}
    for line, name in ((outer_line, "outer"), (inner_line, "inner")):
        assert (line["trace_id"], line["span_id"]) == (f"{spans[name].trace_id:032x}", f"{spans[name].span_id:016x}")
        assert (line["service"], line["request_id"]) == ("svc", "r-7")
    assert outer_line["trace_id"] == inner_line["trace_id"]
    assert {"trace_id", "span_id"}.isdisjoint(after)


def test_with_tracing_off_lines_carry_no_span_ids(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, written = lines
    assert tracing.tracer() is None
    with tracing.span("not made"):
        logger.info("untraced")
    (line,) = _written(written)
    assert line["message"] == "untraced"
    assert {"trace_id", "span_id"}.isdisjoint(line)


def test_logging_with_tracing_off_loads_no_opentelemetry() -> None:
    script = (
        "import logging, sys\n"
        "from supply_common.logs import configure_logging\n"
        "configure_logging('svc')\n"
        "logging.getLogger('x').warning('a line')\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'opentelemetry loaded'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr)["message"] == "a line"


def test_the_default_handler_writes_to_the_stderr_of_the_moment(monkeypatch) -> None:
    handler = json_handler("svc")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler.handle(logging.makeLogRecord({"msg": "one", "levelno": logging.INFO, "levelname": "INFO"}))
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    handler.handle(logging.makeLogRecord({"msg": "two", "levelno": logging.INFO, "levelname": "INFO"}))
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["two"]
