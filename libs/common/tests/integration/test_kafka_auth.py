"""The local stack's broker lets in only authenticated clients, and each only where its ACLs allow:
the relay writes `sales.events`, the projector reads it and writes the DLQ, nobody else touches them;
auth makes and writes `auth.account-events`, which the gateway, the sales-writer and the projector may
read (by partition, without a group). Nothing here writes to the project's topics or makes the account
events' topic (the tests share the broker with `make run`)."""

from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from supply_common.kafka import ensure_topics, make_producer, sales_topics
from supply_common.settings import KafkaSettings
from supply_common.testing.fixtures import not_here
from supply_common.testing.stack import stack_env

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def authenticating_broker() -> None:
    if not os.environ.get("KAFKA_SECURITY_PROTOCOL", "").startswith("SASL_"):
        not_here("the broker in use asks nobody (a test container); the local stack's does")


def as_principal(kafka_bootstrap: str, principal: str) -> KafkaSettings:
    """Settings of the project's own topics, authenticated as one of the stack's principals."""
    env = stack_env(principal=principal)
    return KafkaSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_security_protocol=env["KAFKA_SECURITY_PROTOCOL"],  # type: ignore[arg-type]
        kafka_sasl_mechanism=env["KAFKA_SASL_MECHANISM"],  # type: ignore[arg-type]
        kafka_username=env["KAFKA_USERNAME"],
        kafka_password=env["KAFKA_PASSWORD"],  # type: ignore[arg-type]
        sales_topic="sales.events",
        dlq_topic="sales.events.dlq",
    )


ACCOUNT_EVENTS = "auth.account-events"
ACCOUNT_EVENT_READERS = ("gateway", "sales-writer", "mongo-projector")


@pytest.fixture(scope="module")
def relay(kafka_bootstrap: str) -> KafkaSettings:
    settings = as_principal(kafka_bootstrap, "sales-writer")
    asyncio.run(
        ensure_topics(settings, topics=sales_topics)
    )  # the relay may create the project's topics (and nothing else)
    return settings


@pytest.fixture(scope="module")
def projector(kafka_bootstrap: str, relay: KafkaSettings) -> KafkaSettings:
    return as_principal(kafka_bootstrap, "mongo-projector")


async def test_a_client_without_credentials_is_refused(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=5_000)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()


async def test_a_wrong_password_is_refused(relay: KafkaSettings) -> None:
    wrong = relay.model_copy(update={"kafka_password": relay.kafka_password.__class__("not-the-password")})
    admin = AIOKafkaAdminClient(**wrong.kafka_client_options(), request_timeout_ms=5_000)
    with pytest.raises(KafkaError):
        await admin.start()
    await admin.close()


async def test_the_projector_cannot_write_the_sales_topic(projector: KafkaSettings) -> None:
    await refused_writing(projector, projector.sales_topic)


async def test_the_relay_cannot_read_the_sales_topic(relay: KafkaSettings) -> None:
    consumer = AIOKafkaConsumer(**relay.kafka_client_options(), enable_auto_commit=False, request_timeout_ms=5_000)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(relay.sales_topic, 0)])
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(consumer.getmany(timeout_ms=5_000), timeout=20)
    finally:
        await consumer.stop()


async def test_the_projector_reads_the_sales_topic_in_its_own_group_only(projector: KafkaSettings) -> None:
    partition = TopicPartition(projector.sales_topic, 0)

    async def committed_offset(group: str) -> int | None:
        consumer = AIOKafkaConsumer(**projector.kafka_client_options(), group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([partition])
            await consumer.seek_to_end(partition)
            return await consumer.committed(partition)
        finally:
            await consumer.stop()

    await committed_offset("mongo-projector")
    with pytest.raises(GroupAuthorizationFailedError):
        await committed_offset("not-the-projector")


async def test_the_projector_describes_its_group_and_reads_the_dead_letters_for_the_panel(
    projector: KafkaSettings,
) -> None:
    admin = AIOKafkaAdminClient(**projector.kafka_client_options(), request_timeout_ms=10_000)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups(["mongo-projector"])
        assert [group[0] for group in response.groups] == [0]  # no GROUP_AUTHORIZATION_FAILED
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(**projector.kafka_client_options(), enable_auto_commit=False, request_timeout_ms=5_000)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(projector.dlq_topic, 0)])
        await asyncio.wait_for(consumer.getmany(timeout_ms=1_000), timeout=20)  # no TopicAuthorizationFailed
    finally:
        await consumer.stop()


async def topic_error(settings: KafkaSettings, topic: str) -> int:
    """The error code of the broker's metadata for `topic` as `settings`' principal sees it: 0 (it
    exists), UNKNOWN_TOPIC_OR_PARTITION (the principal may know of it, it does not exist yet) or
    TOPIC_AUTHORIZATION_FAILED (the principal may not even know whether it exists)."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=10_000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return int(described["error_code"])
    finally:
        await admin.close()


async def test_auth_and_the_account_event_readers_each_log_in_and_see_the_account_events(
    kafka_bootstrap: str,
) -> None:
    for principal in ("auth", *ACCOUNT_EVENT_READERS):
        seen = await topic_error(as_principal(kafka_bootstrap, principal), ACCOUNT_EVENTS)
        assert seen in (0, UnknownTopicOrPartitionError.errno), principal
    tests = await topic_error(as_principal(kafka_bootstrap, "tests"), ACCOUNT_EVENTS)
    assert tests == TopicAuthorizationFailedError.errno


async def test_a_reader_of_the_account_events_may_not_make_their_topic(kafka_bootstrap: str) -> None:
    gateway = as_principal(kafka_bootstrap, "gateway")
    admin = AIOKafkaAdminClient(**gateway.kafka_client_options(), request_timeout_ms=10_000)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(ACCOUNT_EVENTS, 1, replication_factor=1)])
    finally:
        await admin.close()
    assert [(name, code) for name, code, *_ in response.topic_errors] == [
        (ACCOUNT_EVENTS, TopicAuthorizationFailedError.errno)
    ]


async def test_auth_can_neither_write_nor_read_the_sales_topic(kafka_bootstrap: str, relay: KafkaSettings) -> None:
    auth = as_principal(kafka_bootstrap, "auth")
    assert await topic_error(auth, auth.sales_topic) == TopicAuthorizationFailedError.errno
    await refused_writing(auth, auth.sales_topic)


async def refused_writing(principal: KafkaSettings, topic: str) -> None:
    """Check that the broker refuses a record on `topic` from `principal`."""
    producer = make_producer(principal, request_timeout_ms=5_000)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(topic, b"{}", key=b"000000000000000000000000")
    finally:
        await producer.stop()
