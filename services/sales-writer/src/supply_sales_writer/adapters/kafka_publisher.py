"""The relay's publisher on Kafka: one idempotent producer (`acks=all`), started when needed, fed
record batches built here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

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

    async def send(
        self, rows: list[OutboxRow], spans: Mapping[int, tracing.Span] | None = None
    ) -> list[asyncio.Future[object]]:
        if self._producer is None:
            raise RuntimeError("the publisher is not started")
        return await send_batches(self._producer, rows, spans or {})


async def send_batches(
    producer: AIOKafkaProducer, rows: list[OutboxRow], spans: Mapping[int, tracing.Span]
) -> list[asyncio.Future[object]]:
    """Hand rows to the producer as record batches, one or more per partition, each in id order;
    each acknowledgement resolves to where its batch landed (`Placed`).

    A row's trace context goes as the record's `traceparent` header: that of its publish span in
    `spans` (by row id) when it has one, else the row's own, so that the consumer goes on with the
    trace either way. A publish span is told where its record landed, or that it failed, and is
    ended by whoever gave it.

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
    for (topic, partition), pending in grouped.items():
        while pending:
            batch = producer.create_batch()
            taken = 0
            for row in pending:
                headers = _headers(row, spans) if row.traceparent else []
                if batch.append(timestamp=None, key=row.key, value=row.payload, headers=headers) is None:
                    break  # full
                taken += 1
            if not taken:
                raise ValueError(f"outbox row {pending[0].id} is larger than a producer batch")
            batch.close()  # nothing but these rows goes into it
            sent = await producer.send_batch(batch, topic, partition=partition)
            ids = tuple(row.id for row in pending[:taken])
            placing: list[tuple[int, tracing.Span]] = []
            if spans:
                placing = [(n, spans[row_id]) for n, row_id in enumerate(ids) if row_id in spans]
                for _, span in placing:
                    span.set_attribute("messaging.destination.partition.id", str(partition))
            acks.append(_placed(sent, partition, ids, placing))
            pending = pending[taken:]
    return acks


def _headers(row: OutboxRow, spans: Mapping[int, tracing.Span]) -> list[tuple[str, bytes]]:
    span = spans.get(row.id)
    traceparent = (tracing.traceparent(span) if span is not None else None) or row.traceparent or ""
    return [(tracing.TRACEPARENT, traceparent.encode())]


def _placed(
    sent: asyncio.Future[RecordMetadata],
    partition: int,
    ids: tuple[int, ...],
    spans: list[tuple[int, tracing.Span]],
) -> asyncio.Future[object]:
    """An acknowledgement that resolves to where the batch landed (or fails as the send failed),
    telling the rows' publish spans."""
    placed: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    def settle(done: asyncio.Future[RecordMetadata]) -> None:
        if done.cancelled():
            placed.cancel()
            return
        error = done.exception()
        if error is not None:
            placed.set_exception(error)
        else:
            placed.set_result(Placed(partition, done.result().offset, ids))
        for n, span in spans:
            if not span.is_recording():
                continue  # ended already: its batch failed otherwise
            if error is not None:
                tracing.mark_failed(span, error)
            else:
                span.set_attribute("messaging.kafka.offset", done.result().offset + n)
                span.add_event("acknowledged")

    sent.add_done_callback(settle)
    return placed
