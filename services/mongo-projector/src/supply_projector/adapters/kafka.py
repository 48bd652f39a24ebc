"""Kafka: the sales consumer, the dead-letter producer, and offsets for freshness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from supply_common.kafka import make_producer
from supply_common.settings import KafkaSettings
from supply_common.tracing import TRACEPARENT
from supply_projector.service_layer.ports import Record

log = logging.getLogger(__name__)


def make_consumer(settings: KafkaSettings, group_id: str | None, **overrides: object) -> AIOKafkaConsumer:
    options: dict[str, object] = {
        **settings.kafka_client_options(),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "session_timeout_ms": 30_000,
        "heartbeat_interval_ms": 3_000,
        "max_poll_interval_ms": 300_000,
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(**options)


def to_record(message: object) -> Record:
    headers = message.headers  # type: ignore[attr-defined]
    return Record(
        topic=message.topic,  # type: ignore[attr-defined]
        partition=message.partition,  # type: ignore[attr-defined]
        offset=message.offset,  # type: ignore[attr-defined]
        key=message.key,  # type: ignore[attr-defined]
        value=message.value,  # type: ignore[attr-defined]
        traceparent=next((value for name, value in headers if name == TRACEPARENT), None) if headers else None,
    )


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The topic's partition numbers, fetching its metadata if the client has none yet."""
    for _ in range(20):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    return []


class KafkaReplay:
    """Implements `service_layer.rebuild.Replay`: every partition of the sales topic from its
    beginning, with a consumer group of its own (so that its commit records how far it went)."""

    def __init__(self, settings: KafkaSettings, group_id: str) -> None:
        self.topic = settings.sales_topic
        self.consumer = make_consumer(settings, group_id)
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def partitions(self) -> list[int]:
        numbers = await topic_partitions(self.consumer, self.topic)
        self._partitions = [TopicPartition(self.topic, p) for p in numbers]
        if self._partitions:
            self.consumer.assign(self._partitions)
            await self.consumer.seek_to_beginning(*self._partitions)
        return numbers

    async def beginning_offsets(self) -> dict[int, int]:
        found = await self.consumer.beginning_offsets(self._partitions)
        return {tp.partition: int(offset) for tp, offset in found.items()}

    async def end_offsets(self) -> dict[int, int]:
        found = await self.consumer.end_offsets(self._partitions)
        return {tp.partition: int(offset) for tp, offset in found.items()}

    async def position(self, partition: int) -> int:
        return int(await self.consumer.position(TopicPartition(self.topic, partition)))

    async def fetch(self, partitions: Collection[int], max_records: int) -> list[Record]:
        wanted = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        batches = await self.consumer.getmany(*wanted, timeout_ms=500, max_records=max_records)
        return [to_record(m) for tp in sorted(batches) for m in batches[tp]]

    async def commit(self) -> None:
        await self.consumer.commit()


class KafkaDeadLetters:
    """Sends poison records to the DLQ topic, untouched, with headers that say why, where from, when."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.topic = settings.dlq_topic
        self.producer: AIOKafkaProducer = make_producer(settings)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, failures: Sequence[tuple[Record, Exception]]) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        futures = []
        for record, error in failures:
            headers = [
                ("error.class", type(error).__name__.encode()),
                ("error.message", str(error)[:2000].encode()),
                ("source.topic", record.topic.encode()),
                ("source.partition", str(record.partition).encode()),
                ("source.offset", str(record.offset).encode()),
                ("dlq.time", now.encode()),
            ]
            futures.append(await self.producer.send(self.topic, value=record.value, key=record.key, headers=headers))
        for future in futures:
            await future
        log.warning("dead-lettered records", extra={"count": len(failures), "topic": self.topic})


class KafkaOffsets:
    """Committed offsets of a group and the end offsets of topics, for /freshness."""

    def __init__(self, settings: KafkaSettings, group_id: str) -> None:
        self.settings = settings
        self.group_id = group_id
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None:
            consumer = make_consumer(self.settings, None, request_timeout_ms=5_000)
            await consumer.start()
            self._consumer = consumer
        if self._admin is None:
            admin = AIOKafkaAdminClient(**self.settings.kafka_client_options(), request_timeout_ms=5_000)
            await admin.start()
            self._admin = admin
        return self._consumer, self._admin

    async def partitions(self, topic: str) -> list[TopicPartition]:
        consumer, _ = await self._clients()
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(found)]

    async def end_offsets(self, topic: str) -> dict[int, int]:
        consumer, _ = await self._clients()
        partitions = await self.partitions(topic)
        if not partitions:
            return {}
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    async def record_count(self, topic: str) -> int:
        consumer, _ = await self._clients()
        partitions = await self.partitions(topic)
        if not partitions:
            return 0
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(int(ends[tp]) - int(starts[tp]) for tp in partitions)

    async def committed(self, topic: str) -> dict[int, int]:
        _, admin = await self._clients()
        offsets = await admin.list_consumer_group_offsets(self.group_id)
        return {
            tp.partition: int(meta.offset) for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0
        }

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
