"""The relay's spans of one claimed batch, made only while tracing is on: with it off, `claim_started`
returns None, no clock is read for spans and no span object is made.

A row written in a sampled trace (as its `traceparent` says) gets a publish span (PRODUCER) in that
trace: the relay's part of the row's way, from the start of the claim that took it to the end of the
mark that recorded it published, the broker's acknowledgement an event on it. Its context is what
the record's `traceparent` header names, so the projector's apply continues it. A row of a trace not
sampled gets no span; its record carries the row's `traceparent` as it is.

The batch's claim and mark are database spans, with the batch size, under the first traced row's
publish span and linking the other rows' (as the projector's batch span does); a batch with no
traced row has its claim and its mark as roots of their own (sampled as a new trace), the mark
linking the claim. Only a claim that took rows is recorded: an idle relay polling an empty outbox
makes no spans, nor does a batch whose rows all belong to traces not sampled.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence

from supply_common import tracing
from supply_sales_writer.service_layer.ports import OutboxRow

CLAIM = "mysql: claim outbox"
MARK = "mysql: mark published"


def claim_started() -> int | None:
    """The time a claim starts (nanoseconds since the epoch, the spans' clock), or None when tracing
    is off."""
    return time.time_ns() if tracing.tracer() is not None else None


class BatchSpans:
    """The publish spans of a batch's recorded rows (by row id) and the place of its claim and mark."""

    def __init__(self, rows: Sequence[OutboxRow], started_ns: int) -> None:
        tracer = tracing.tracer()
        assert tracer is not None
        claimed_ns = time.time_ns()
        self.publishes: Mapping[int, tracing.Span] = {
            row.id: tracing.record_span(
                tracer, "publish", tracing.SpanKind.PRODUCER, row, {"supply.outbox_id": row.id}, start_time=started_ns
            )
            for row in rows
            if tracing.records(row.traceparent)
        }
        self._ended = False
        traced = list(self.publishes.values())
        # Rows that all belong to traces not sampled: their batch records nothing either.
        self._quiet = not traced and all(row.traceparent for row in rows)
        if self._quiet:
            return
        self._parent = tracing.under(traced[0]) if traced else tracing.no_parent()
        self._attributes: dict[str, str | int] = {"db.system.name": "mysql", "supply.batch_size": len(rows)}
        claim = tracer.start_span(
            CLAIM,
            context=self._parent,
            kind=tracing.SpanKind.CLIENT,
            links=tracing.links_to(traced[1:]),
            start_time=started_ns,
            attributes=self._attributes,
        )
        claim.end(end_time=claimed_ns)
        self._quiet = not claim.get_span_context().trace_flags.sampled
        self._links = tracing.links_to(traced[1:] if traced else [claim])

    @contextlib.contextmanager
    def marking(self) -> Iterator[None]:
        """The mark's span, current for the block (log lines written in it name it)."""
        if self._quiet:
            yield
            return
        with tracing.span(
            MARK, kind=tracing.SpanKind.CLIENT, parent=self._parent, links=self._links, attributes=self._attributes
        ):
            yield

    def end(self, failed: BaseException | str | None = None) -> None:
        """End the publish spans (as failed, when `failed` says why); once, later calls do nothing."""
        if self._ended:
            return
        self._ended = True
        for span in self.publishes.values():
            if failed is not None:
                tracing.mark_failed(span, failed)
            span.end()
