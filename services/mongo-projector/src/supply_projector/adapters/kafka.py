"""Kafka: the sales consumer, the dead-letter producer, and offsets for freshness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import for_code

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


@dataclass(frozen=True)
class Member:
    """One consumer of a group, as the group's coordinator describes it."""

    member_id: str
    client_id: str
    host: str
    partitions: tuple[int, ...]
    """Its partitions of the topic asked about, in order."""


@dataclass(frozen=True)
class Group:
    state: str
    """The group's state (`Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`)."""
    members: tuple[Member, ...]


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: str | None
    timestamp_ms: int
    headers: dict[str, str]


class KafkaOffsets:
    """What operators read from Kafka: committed offsets and members of a group, end offsets of
    topics, the newest dead letters."""

    def __init__(self, settings: KafkaSettings, group_id: str) -> None:
        self.settings = settings
        self.group_id = group_id
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._reading = asyncio.Lock()

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

    async def group(self, topic: str) -> Group:
        """The group's members and which of `topic`'s partitions each holds."""
        _, admin = await self._clients()
        responses = await admin.describe_consumer_groups([self.group_id])
        for response in responses:
            for error_code, group_id, state, _protocol_type, _protocol, members, *_ in response.groups:
                if group_id != self.group_id:
                    continue
                if error_code:
                    raise for_code(error_code)(f"describing group {group_id}")
                return Group(state, tuple(_member(member, topic) for member in members))
        return Group("Dead", ())

    async def newest(self, topic: str, limit: int) -> list[DeadLetter]:
        """The `limit` newest records of `topic` (a DLQ) by the time they were written, newest first.
        Read by assignment (no group, nothing committed)."""
        consumer, _ = await self._clients()
        async with self._reading:
            partitions = await self.partitions(topic)
            if not partitions:
                return []
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            wanted = {tp: int(ends[tp]) for tp in partitions if int(ends[tp]) > int(starts[tp])}
            if not wanted:
                return []
            consumer.assign(list(wanted))
            try:
                for tp, end in wanted.items():
                    consumer.seek(tp, max(int(starts[tp]), end - limit))
                found: list[DeadLetter] = []
                remaining = dict(wanted)
                while remaining:
                    batches = await consumer.getmany(*remaining, timeout_ms=1_000)
                    if not batches:
                        break
                    for tp, messages in batches.items():
                        found.extend(_dead_letter(message) for message in messages)
                        if messages and messages[-1].offset + 1 >= remaining.get(tp, 0):
                            remaining.pop(tp, None)
            finally:
                consumer.assign([])
        found.sort(key=lambda letter: (letter.timestamp_ms, letter.partition, letter.offset), reverse=True)
        return found[:limit]

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None


def _member(member: Sequence[object], topic: str) -> Member:
    member_id, client_id, host, _metadata, assignment = member[:5]
    partitions: list[int] = []
    if assignment:
        decoded = ConsumerProtocolMemberAssignment.decode(assignment)
        partitions = sorted(p for name, numbers in decoded.assignment for p in numbers if name == topic)
    return Member(str(member_id), str(client_id), str(host).lstrip("/"), tuple(partitions))


def _dead_letter(message: object) -> DeadLetter:
    key = message.key  # type: ignore[attr-defined]
    headers = message.headers or ()  # type: ignore[attr-defined]
    return DeadLetter(
        partition=message.partition,  # type: ignore[attr-defined]
        offset=message.offset,  # type: ignore[attr-defined]
        key=key.decode(errors="replace") if key is not None else None,
        timestamp_ms=message.timestamp,  # type: ignore[attr-defined]
        headers={name: value.decode(errors="replace") for name, value in headers if value is not None},
    )
