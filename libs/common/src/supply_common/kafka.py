"""Kafka helpers: the project's topics, created by code, the producer every service uses, and the
consumer of readers that assign themselves partitions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from supply_common.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def sales_topics(settings: KafkaSettings) -> list[TopicSpec]:
    """`sales.events` is a compacted changelog keyed by sale id; the DLQ keeps everything for 30 days."""
    return [
        TopicSpec(
            settings.sales_topic,
            settings.sales_topic_partitions,
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "segment.ms": "3600000"},
        ),
        TopicSpec(settings.dlq_topic, 1, {"cleanup.policy": "delete", "retention.ms": str(30 * 24 * 3600 * 1000)}),
    ]


def account_topics(settings: KafkaSettings) -> list[TopicSpec]:
    """`auth.account-events` is a compacted changelog keyed by user id: each record carries the whole of
    what a verifier must refuse for that user, so the last one per key is all a replay needs, and
    compaction keeps it for as long as the account exists. One partition: account changes are rare."""
    return [
        TopicSpec(
            settings.account_events_topic,
            1,
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "segment.ms": "3600000"},
        )
    ]


def project_topics(settings: KafkaSettings) -> list[TopicSpec]:
    """Every topic of the project. Each service creates only its own (`sales_topics` for the relay and
    the projector, `account_topics` for auth): its Kafka principal may create nothing else."""
    return [*sales_topics(settings), *account_topics(settings)]


async def ensure_topics(
    settings: KafkaSettings,
    timeout_s: float = 30.0,
    *,
    topics: Callable[[KafkaSettings], list[TopicSpec]] = project_topics,
) -> list[str]:
    """Create `topics` (by default the project's) where missing; idempotent. Returns the names it created."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=10_000)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topics(settings) if spec.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(spec.name, spec.partitions, replication_factor=1, topic_configs=spec.config)
                    for spec in missing
                ]
            )
            for name, code, *rest in response.topic_errors:
                if code == TopicAlreadyExistsError.errno:
                    continue
                if code:
                    raise for_code(code)(f"creating topic {name}: {rest[0] if rest else ''}")
                created.append(name)
                log.info("created topic", extra={"topic": name})
    finally:
        await admin.close()
    return created


def client_options(bootstrap_servers: str) -> dict[str, Any]:
    """aiokafka keyword arguments for a tool or test that holds only the broker's address: it connects as
    the environment's principal (`KAFKA_USERNAME`, see KafkaSettings)."""
    return KafkaSettings(kafka_bootstrap_servers=bootstrap_servers).kafka_client_options()


async def delete_topics(bootstrap_servers: str, wanted: Callable[[str], bool], timeout_s: float = 30.0) -> list[str]:
    """Delete the broker's topics for which `wanted(name)` holds (a hundred per request); returns them.
    For tests and the bench, which make throwaway topics."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap_servers), request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        doomed = [topic for topic in await admin.list_topics() if wanted(topic)]
        for start in range(0, len(doomed), 100):
            await admin.delete_topics(doomed[start : start + 100], timeout_ms=int(timeout_s * 1000))
        return doomed
    finally:
        await admin.close()


def make_producer(settings: KafkaSettings, **overrides: object) -> AIOKafkaProducer:
    """The one producer configuration: idempotent, acks=all, ordered per partition."""
    options: dict[str, object] = {
        **settings.kafka_client_options(),
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 2,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 200,
        "max_batch_size": 1_048_576,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def start_producer(factory: Callable[[], AIOKafkaProducer]) -> AIOKafkaProducer:
    """A producer made by `factory`, started; one that fails to start is stopped (for 2 s at most) before
    the error goes on, so that no half-open connection is left behind."""
    producer = factory()
    try:
        await producer.start()
    except BaseException:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await producer.stop()
        raise
    return producer


async def stop_producer(producer: AIOKafkaProducer | None) -> None:
    """Stop `producer` (sending what it holds) for 5 s at most; a broker that is away does not hold the
    caller up, and what could not be sent stays for the next producer to send."""
    if producer is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await producer.stop()


def make_reader(settings: KafkaSettings, **overrides: object) -> AIOKafkaConsumer:
    """A consumer outside any consumer group, for a reader that assigns itself partitions and keeps
    its own place (it commits nothing, and needs no group ACL)."""
    options: dict[str, object] = {
        **settings.kafka_client_options(),
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 200,
    }
    options.update(overrides)
    return AIOKafkaConsumer(**options)
