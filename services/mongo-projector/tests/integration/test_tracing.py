"""The consumer process goes on with the trace each record's `traceparent` header names: an apply
span per traced record, and the batch's store work as a span under it, exported over OTLP."""

from __future__ import annotations

import asyncio
import random
import subprocess
from pathlib import Path

import pytest

from supply_common import tracing
from supply_common.kafka import make_producer
from supply_common.testing.otlp import OtlpReceiver, describe
from supply_projector.bootstrap import Container

from .conftest import CLI, process_env, versions_of, wait_for
from .events import new_sale, sale_event

pytestmark = pytest.mark.integration

TRACES = ["5bf92f3577b34da6a3ce929d0e0e4736", "6bf92f3577b34da6a3ce929d0e0e4736"]
SPANS = ["10f067aa0ba902b7", "20f067aa0ba902b7"]


async def test_the_consumer_continues_the_trace_of_each_traced_record(container: Container, tmp_path: Path) -> None:
    settings = container.settings
    rng = random.Random(3)
    sales = [new_sale(rng) for _ in range(3)]
    producer = make_producer(settings)
    await producer.start()
    try:
        for n, sale in enumerate(sales):
            event = sale_event(sale, 1, "create")
            headers = [] if n == 2 else [("traceparent", f"00-{TRACES[n]}-{SPANS[n]}-01".encode())]
            await producer.send(settings.sales_topic, value=event.to_bytes(), key=event.key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()

    with OtlpReceiver() as receiver:
        env = process_env(settings) | {tracing.ENDPOINT_ENV: receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        env.pop("OTEL_SERVICE_NAME", None)
        log = tmp_path / "consumer.log"
        process = await asyncio.to_thread(
            subprocess.Popen, [CLI, "consume"], env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab")
        )
        try:
            await wait_for(lambda: versions_of(container) == {s.id: 1 for s in sales}, what="the three sales")
            spans = receiver.wait_for(lambda got: sum(s.name.endswith(" apply") for s in got) >= 2)
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 30)

    applies = {s.trace_id: s for s in spans if s.name == f"{settings.sales_topic} apply"}
    assert set(applies) == set(TRACES), describe(spans)
    for trace_id, parent in zip(TRACES, SPANS, strict=True):
        apply = applies[trace_id]
        assert apply.service == "mongo-projector"
        assert apply.parent_span_id == parent
        assert apply.kind == 5  # CONSUMER
        assert apply.attributes["messaging.consumer.group.name"] == settings.consumer_group
    batches = [s for s in spans if s.name == "mongo: apply batch"]
    assert batches, describe(spans)
    applied_spans = {a.span_id for a in applies.values()}
    for batch in batches:
        covered = {batch.parent_span_id} | {span_id for _, span_id in batch.links}
        assert covered <= applied_spans
    assert {batch.parent_span_id for batch in batches} | {s for b in batches for _, s in b.links} == applied_spans
