"""Traces through the write path: the caller's trace goes on in the request, the transaction, the
outbox row and the record's header; the relay's publish of a row, with its batch's claim and mark
under it, is in the row's trace, and so are the log lines written meanwhile; the relay records where
each row landed, traced or not."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from supply_common import tracing
from supply_common.logs import json_handler
from supply_common.testing.otlp import OtlpReceiver, ReceivedSpan, describe
from supply_sales_writer.adapters.schema import outbox
from supply_sales_writer.bootstrap import Container
from supply_sales_writer.entrypoints.app import create_app

pytestmark = pytest.mark.integration

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


def _rows(container: Container) -> list[dict[str, object]]:
    with container.engine.connect() as connection:
        found = connection.execute(
            select(
                outbox.c.msg_key, outbox.c.traceparent, outbox.c.published_partition, outbox.c.published_offset
            ).order_by(outbox.c.id)
        )
        return [dict(row._mapping) for row in found]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of this process during the test, as the services write them (DEBUG and up)."""
    written = io.StringIO()
    handler = json_handler("sales-writer", written)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield written
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(written: io.StringIO, message: str) -> list[dict[str, object]]:
    return [line for line in map(json.loads, written.getvalue().splitlines()) if line["message"] == message]


def test_a_traced_create_and_update_carry_the_callers_trace_to_the_topic(
    span_receiver: OtlpReceiver, container: Container, kit, log_lines: io.StringIO
) -> None:
    with TestClient(create_app(container)) as client:
        created = client.post("/sales", json=kit.body(), headers=kit.worker | {"traceparent": CALLER})
        assert created.status_code == 201
        sale_id = created.json()["id"]
        updated = client.put(
            f"/sales/{sale_id}", json=kit.body(), headers=kit.worker | {"If-Match": '"1"', "traceparent": CALLER}
        )
        assert updated.status_code == 200
        records = kit.consume(2)

    headers = [dict(record.headers) for record in records]
    assert [tracing.trace_id_of(h.get("traceparent")) for h in headers] == [CALLER_TRACE, CALLER_TRACE]
    rows = _rows(container)
    assert [tracing.trace_id_of(row["traceparent"]) for row in rows] == [CALLER_TRACE, CALLER_TRACE]
    assert [(row["published_partition"], row["published_offset"]) for row in rows] == [
        (record.partition, record.offset) for record in records
    ]

    spans = span_receiver.wait_for(lambda got: sum(s.kind == 4 for s in got) >= 2)  # PRODUCER
    trace = [s for s in spans if s.trace_id == CALLER_TRACE]
    names = {(s.service, s.name) for s in trace}
    topic = kit.settings.sales_topic
    assert {
        ("sales-writer", "POST /sales"),
        ("sales-writer", "PUT /sales/{sale_id}"),
        ("sales-writer", "mysql: write creates"),
        ("sales-writer", f"{topic} publish"),
    } <= names, describe(trace)
    by_id = {s.span_id: s for s in trace}
    server = next(s for s in trace if s.name == "POST /sales")
    assert server.parent_span_id == CALLER_SPAN
    write = next(s for s in trace if s.name == "mysql: write creates")
    assert by_id[write.parent_span_id].name == "POST /sales"
    published = sorted((s for s in trace if s.name == f"{topic} publish"), key=lambda s: s.start_ns)
    # Each record's header names its producer span, which continues the request that wrote the row.
    assert [h["traceparent"].decode().split("-")[2] for h in headers] == [s.span_id for s in published]
    assert by_id[published[0].parent_span_id].name == "POST /sales"
    assert by_id[published[1].parent_span_id].name == "PUT /sales/{sale_id}"
    assert [s.attributes["messaging.kafka.offset"] for s in published] == [r.offset for r in records]

    # Each publish holds its batch's claim and mark: under it when it is its batch's first traced
    # row, else linked from them. Both name the batch's size.
    # One batch may hold both rows (the relay had not claimed the create when the update came), so wait
    # for each publish's own claim and mark rather than for a number of them.
    steps = ("mysql: claim outbox", "mysql: mark published")
    spans = span_receiver.wait_for(
        lambda got: all(any(s.name == name and _holds(p, s) for s in got) for p in published for name in steps)
    )
    trace = [s for s in spans if s.trace_id == CALLER_TRACE]
    for publish in published:
        for name in steps:
            (step,) = [s for s in trace if s.name == name and _holds(publish, s)]
            assert step.attributes["supply.batch_size"] == 1 + len(step.links), describe(trace)
            assert step.attributes["db.system.name"] == "mysql"
            assert publish.start_ns <= step.start_ns <= step.end_ns <= publish.end_ns, describe(trace)
    print("\n" + describe(trace))

    # The relay's line for a published batch names the batch's mark span, in the caller's trace.
    marks = {s.span_id for s in trace if s.name == "mysql: mark published"}
    published_lines = _lines(log_lines, "outbox batch published")
    assert sum(line["rows"] for line in published_lines) == 2
    assert {(line["trace_id"], line["span_id"]) for line in published_lines} == {(CALLER_TRACE, m) for m in marks}


def _holds(publish: ReceivedSpan, step: ReceivedSpan) -> bool:
    """Whether a claim or mark span is that of the publish's batch."""
    return step.parent_span_id == publish.span_id or (publish.trace_id, publish.span_id) in step.links


def test_a_create_in_a_trace_not_sampled_makes_no_span_and_passes_the_callers_context_on(
    span_receiver: OtlpReceiver, container: Container, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(tracing.SAMPLER_ENV)  # the default sampler, which follows the caller's decision
    unsampled = f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"
    with TestClient(create_app(container)) as client:
        created = client.post("/sales", json=kit.body(), headers=kit.worker | {"traceparent": unsampled})
        assert created.status_code == 201
        (record,) = kit.consume(1)
        deadline = time.monotonic() + 20
        while True:
            journey = client.get(f"/internal/sales/{created.json()['id']}/journey", headers=kit.operator).json()
            if journey["events"][0]["published_at"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    tracing.stop()  # exports what is pending

    assert dict(record.headers)["traceparent"] == unsampled.encode()
    assert [row["traceparent"] for row in _rows(container)] == [unsampled]
    assert journey["events"][0]["trace_id"] is None  # nothing to link to: the trace was not recorded
    assert [s for s in span_receiver.snapshot() if s.trace_id == CALLER_TRACE] == []


def test_untraced_writes_leave_no_trace_context_and_are_still_placed(
    client: TestClient, container: Container, kit, log_lines: io.StringIO
) -> None:
    assert tracing.tracer() is None
    sale_id = client.post("/sales", json=kit.body(), headers=kit.worker).json()["id"]
    client.delete(f"/sales/{sale_id}", headers=kit.worker | {"If-Match": '"1"'})
    records = kit.consume(2)
    assert [record.headers for record in records] == [(), ()]
    published_lines = _lines(log_lines, "outbox batch published")
    assert sum(line["rows"] for line in published_lines) == 2
    assert all({"trace_id", "span_id"}.isdisjoint(line) for line in published_lines)
    rows = _rows(container)
    assert [row["traceparent"] for row in rows] == [None, None]
    assert [(row["published_partition"], row["published_offset"]) for row in rows] == [
        (record.partition, record.offset) for record in records
    ]
