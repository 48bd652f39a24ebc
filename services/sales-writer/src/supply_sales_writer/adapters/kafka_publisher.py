"""The relay's publisher on Kafka: one idempotent producer (`acks=all`), started when needed, fed
record batches built here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from supply_common import tracing
from supply_common.kafka import make_producer, start_producer, stop_producer
from supply_common.settings import KafkaSettings
from supply_sales_writer.adapters.partitions import partition_for
from supply_sales_writer.service_layer.ports import OutboxRow, Placed

ProducerFactory = Callable[[], AIOKafkaProducer]


def relay_producer(kafka: KafkaSettings) -> AIOKafkaProducer:
    """No linger: a batch's sends are queued in one loop turn and go out as one request anyway;
    lingering would only hold every batch's acknowledgement (and the next claim) back."""
    return make_producer(kafka, request_timeout_ms=5_000, linger_ms=0)


class KafkaPublisher:
    """`Publisher` on a producer made by `factory`, started by `start()` and let go by `stop()`."""

    def __init__(self, factory: ProducerFactory) -> None:
        self.factory = factory
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is None:
            self._producer = await start_producer(self.factory)

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        await stop_producer(producer)

    async def send(self, rows: list[OutboxRow]) -> list[asyncio.Future[object]]:
        if self._producer is None:
            raise RuntimeError("the publisher is not started")
        return await send_batches(self._producer, rows)


async def send_batches(producer: AIOKafkaProducer, rows: list[OutboxRow]) -> list[asyncio.Future[object]]:
    """Hand rows to the producer as record batches, one or more per partition, each in id order;
    each acknowledgement resolves to where its batch landed (`Placed`).

    A row's trace context goes as the record's `traceparent` header: that of a producer span in the
    row's trace when tracing is on, else the row's own, so that the consumer goes on with the trace
    either way.

    Rows go to the partitions `send` would pick (Kafka's default rule for a key: `partition_for`).
    Building the batches here spares `send`'s per-record work (a coroutine, a partition list built
    twice, a future, the key's hash in Python). Batches
    of one partition enter the producer in id order, and batches of an earlier claim before those of
    a later one; the idempotent producer keeps that order on the broker."""
    grouped: dict[tuple[str, int], list[OutboxRow]] = {}
    known: dict[str, list[int]] = {}
    for row in rows:
        if row.topic not in known:
            await producer.partitions_for(row.topic)  # waits for the topic's metadata
            known[row.topic] = sorted(producer.client.cluster.partitions_for_topic(row.topic) or ())
        grouped.setdefault((row.topic, partition_for(row.key, known[row.topic])), []).append(row)
    acks: list[asyncio.Future[object]] = []
    traced = _producer_spans(rows) if any(row.traceparent for row in rows) else {}
    for (topic, partition), pending in grouped.items():
        while pending:
            batch = producer.create_batch()
            taken = 0
            for row in pending:
                headers = traced[row.id][1] if row.id in traced else []
                if batch.append(timestamp=None, key=row.key, value=row.payload, headers=headers) is None:
                    break  # full
                taken += 1
            if not taken:
                raise ValueError(f"outbox row {pending[0].id} is larger than a producer batch")
            batch.close()  # nothing but these rows goes into it
            sent = await producer.send_batch(batch, topic, partition=partition)
            ids = tuple(row.id for row in pending[:taken])
            spans: list[tuple[int, tracing.Span]] = []
            for n, row_id in enumerate(ids):
                span = traced[row_id][0] if row_id in traced else None
                if span is not None:
                    spans.append((n, span))
            for _, span in spans:
                span.set_attribute("messaging.destination.partition.id", str(partition))
            acks.append(_placed(sent, partition, ids, spans))
            pending = pending[taken:]
    return acks


def _producer_spans(rows: list[OutboxRow]) -> dict[int, tuple[tracing.Span | None, list[tuple[str, bytes]]]]:
    """Per traced row: its producer span (None when tracing is off here) and the record's headers."""
    tracer = tracing.tracer()
    traced: dict[int, tuple[tracing.Span | None, list[tuple[str, bytes]]]] = {}
    for row in rows:
        if row.traceparent is None:
            continue
        if tracer is None:
            traced[row.id] = (None, [(tracing.TRACEPARENT, row.traceparent.encode())])
            continue
        span = tracing.record_span(tracer, "publish", tracing.SpanKind.PRODUCER, row, {"supply.outbox_id": row.id})
        traced[row.id] = (span, [(tracing.TRACEPARENT, (tracing.traceparent(span) or row.traceparent).encode())])
    return traced


def _placed(
    sent: asyncio.Future[RecordMetadata],
    partition: int,
    ids: tuple[int, ...],
    spans: list[tuple[int, tracing.Span]],
) -> asyncio.Future[object]:
    """An acknowledgement that resolves to where the batch landed (or fails as the send failed),
    ending the rows' producer spans with it."""
    placed: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    def settle(done: asyncio.Future[RecordMetadata]) -> None:
        error = None if done.cancelled() else done.exception()
        if done.cancelled():
            placed.cancel()
        elif error is not None:
            placed.set_exception(error)
        else:
            base = done.result().offset
            placed.set_result(Placed(partition, base, ids))
            for n, span in spans:
                span.set_attribute("messaging.kafka.offset", base + n)
        for _, span in spans:
            if error is not None:
                tracing.mark_failed(span, error)
            span.end()

    sent.add_done_callback(settle)
    return placed
