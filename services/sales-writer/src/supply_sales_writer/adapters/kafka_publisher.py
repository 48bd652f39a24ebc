"""The relay's publisher on Kafka: one idempotent producer (`acks=all`), started when needed, fed
record batches built here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from supply_common.kafka import make_producer
from supply_common.settings import KafkaSettings
from supply_sales_writer.adapters.partitions import partition_for
from supply_sales_writer.service_layer.ports import OutboxRow

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
            producer = self.factory()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await producer.stop()
                raise
            self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await producer.stop()

    async def send(self, rows: list[OutboxRow]) -> list[asyncio.Future[object]]:
        if self._producer is None:
            raise RuntimeError("the publisher is not started")
        return await send_batches(self._producer, rows)


async def send_batches(producer: AIOKafkaProducer, rows: list[OutboxRow]) -> list[asyncio.Future[object]]:
    """Hand rows to the producer as record batches, one or more per partition, each in id order.

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
                if batch.append(timestamp=None, key=row.key, value=row.payload) is None:
                    break  # full
                taken += 1
            if not taken:
                raise ValueError(f"outbox row {pending[0].id} is larger than a producer batch")
            batch.close()  # nothing but these rows goes into it
            acks.append(await producer.send_batch(batch, topic, partition=partition))
            pending = pending[taken:]
    return acks
