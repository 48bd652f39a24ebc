"""Structured JSON logs, one object a line, each carrying the service name and the request id, and
while tracing is on (`supply_common.tracing`) the ids of the span current when the line is written:
`trace_id` (32 hex digits) and `span_id` (16), as Jaeger shows them. A line written outside any span,
or with tracing off, has neither field."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

SpanIds = Callable[[], "tuple[str, str] | None"]
"""The current span's (trace id, span id) in hex, or None outside any span."""

_span_ids: SpanIds | None = None


def follow_spans(span_ids: SpanIds | None) -> None:
    """Have every line carry the ids `span_ids` gives (tracing installs it when it starts and takes it
    away when it stops; None: lines carry no span ids). Lines look nothing up while it is None."""
    global _span_ids
    _span_ids = span_ids


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        span_ids = _span_ids
        if span_ids is not None:
            current = span_ids()
            if current is not None:
                record.trace_id, record.span_id = current
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record is written, not to the one of its creation (a
    process or test harness that swaps stderr, then closes the old one, loses no line)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def json_handler(service: str, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing each record as one JSON line to `stream` (default: the current stderr)."""
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    )
    handler.addFilter(_ContextFilter(service))
    return handler


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger (and uvicorn's) to stderr as JSON. Safe to call more than once."""
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
