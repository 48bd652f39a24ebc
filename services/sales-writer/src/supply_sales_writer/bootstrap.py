"""The composition root: settings, engine, use cases and relay wired together once."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Unpack

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError

from supply_common.contract import Actor, SaleBody
from supply_common.db import make_engine
from supply_common.publish_lock import PublishLock
from supply_common.revocations import AccountEventsReader, account_events_for
from supply_common.tokens import NO_REVOCATION, TokenVerifier, verifier_for
from supply_sales_writer.adapters.kafka_publisher import KafkaPublisher, ProducerFactory, relay_producer
from supply_sales_writer.adapters.outbox import SqlOutbox
from supply_sales_writer.adapters.unit_of_work import SqlUnitOfWork, is_conflict
from supply_sales_writer.adapters.wakeup import WakeSender
from supply_sales_writer.config import SalesWriterSettings
from supply_sales_writer.service_layer.group_commit import GroupCommit
from supply_sales_writer.service_layer.ports import OutboxRow
from supply_sales_writer.service_layer.relay import AfterPublish, Relay, RelayOptions
from supply_sales_writer.service_layer.services import Created, SalesService

NewSale = tuple[SaleBody, Actor, str | None]
"""A create for the group commit: the body, who creates it, and the `traceparent` of its request."""


class RelayOverrides(RelayOptions, total=False):
    """A relay's options, and the producer it publishes with (tests)."""

    producer_factory: ProducerFactory | None


@dataclass
class Container:
    settings: SalesWriterSettings
    engine: Engine
    service: SalesService
    relay: Relay
    creates: GroupCommit[NewSale, Created]
    tokens: TokenVerifier
    """Checks every caller's token: users' access tokens and operators' service credentials."""
    account_events: AccountEventsReader | None = None
    """Feeds the revocations `tokens` asks (None: none followed, or `tokens` given); run by the app's lifespan."""

    def close(self) -> None:
        self.engine.dispose()

    def new_relay(self, **overrides: Unpack[RelayOverrides]) -> Relay:
        """Another relay over the same outbox (tests and `sales-writer relay`)."""
        producer_factory = overrides.pop("producer_factory", None)
        options = relay_options(self.settings)
        options["maintenance"] = self.service.purge_idempotency_keys
        options.update(overrides)
        return make_relay(self.engine, self.settings, producer_factory, options)


def relay_options(settings: SalesWriterSettings) -> RelayOptions:
    """What the settings say of a relay, for every relay a process makes."""
    return {
        "batch_size": settings.relay_batch_size,
        "poll_interval_s": settings.relay_poll_interval_s,
        "min_cycle_s": settings.relay_min_cycle_s,
        "retention": timedelta(seconds=settings.outbox_retention_s),
    }


def make_relay(
    engine: Engine, settings: SalesWriterSettings, producer_factory: ProducerFactory | None, options: RelayOptions
) -> Relay:
    """A relay over the outbox of `engine`'s database, publishing to Kafka, under its publish lock."""
    publisher = KafkaPublisher(producer_factory or (lambda: relay_producer(settings)))
    return Relay(SqlOutbox(engine), publisher, PublishLock(engine), **options)


async def _exit_after_publish(rows: list[OutboxRow]) -> None:
    os._exit(70)


def make_sales_engine(settings: SalesWriterSettings) -> Engine:
    """Read committed: claims and inserts of the outbox must not block each other on gap locks."""
    return make_engine(settings, isolation_level="READ COMMITTED")


def bootstrap(
    settings: SalesWriterSettings | None = None,
    *,
    engine: Engine | None = None,
    after_publish: AfterPublish | None = None,
    producer_factory: ProducerFactory | None = None,
    tokens: TokenVerifier | None = None,
) -> Container:
    settings = settings or SalesWriterSettings()
    account_events = account_events_for(settings) if tokens is None else None
    tokens = tokens or verifier_for(settings, revocation=account_events or NO_REVOCATION)
    engine = engine or make_sales_engine(settings)
    if after_publish is None and settings.relay_fault == "exit_after_publish":
        after_publish = _exit_after_publish
    options = relay_options(settings)
    options["after_publish"] = after_publish
    relay = make_relay(engine, settings, producer_factory, options)
    # Commits wake the relay of this process, or one in its own process that listens for notices.
    on_commit: Callable[[], None] = relay.wake
    if settings.relay_wake_address and not settings.relay_enabled:
        on_commit = WakeSender(settings.relay_wake_address)
    service = SalesService(
        lambda: SqlUnitOfWork(engine, settings.sales_topic, on_commit, settings.mysql_insert_mode),
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_s),
        conflict=is_conflict,
    )
    relay.maintenance = service.purge_idempotency_keys

    def write_creates(entries: Sequence[NewSale]) -> list[Created]:
        traced = [traceparent for _, _, traceparent in entries]
        return service.create_many([(body, creator) for body, creator, _ in entries], traced)

    creates = GroupCommit(
        write_creates,
        max_batch=settings.create_batch_max,
        split_on=(IntegrityError, DataError, ValueError),  # what one sale holds, not the database being away
    )
    return Container(settings, engine, service, relay, creates, tokens, account_events)
