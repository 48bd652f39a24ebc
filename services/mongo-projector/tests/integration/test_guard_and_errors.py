"""Duplicates, replays, reordering, poison records and quarantine against real Kafka and FerretDB."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from supply_common.contract import Sale, SaleEvent
from supply_projector.adapters.kafka import KafkaOffsets
from supply_projector.bootstrap import Container
from supply_projector.config import ProjectorSettings
from supply_projector.service_layer.ports import Progress, Record
from supply_projector.service_layer.projector import Projector

from .conftest import consuming, produce, sales_of, versions_of, wait_for
from .events import BASE, SAMPLES, changed, history, new_sale, sale_event

pytestmark = pytest.mark.integration


async def dead_letters(settings: ProjectorSettings) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the dead-letter topic so far."""
    dlq = AIOKafkaConsumer(settings.dlq_topic, **settings.kafka_client_options(), auto_offset_reset="earliest")
    await dlq.start()
    try:
        batches = await dlq.getmany(timeout_ms=5000)
        return [m for ms in batches.values() for m in ms]
    finally:
        await dlq.stop()


async def test_duplicates_and_a_replay_from_offset_zero_change_nothing(container: Container) -> None:
    events, final = history(40, 80)
    await produce(container.settings, events)
    async with consuming(container):
        await wait_for(lambda: versions_of(container) == final, what="all versions")
    before = sales_of(container, strip=())

    await produce(container.settings, events[::-1])
    replay = container.settings.model_copy(update={"consumer_group": container.settings.consumer_group + "_replay"})
    async with consuming(container) as first, consuming(Container(**{**container.__dict__, "settings": replay})):
        await wait_for(lambda: first.batches > 0, what="duplicates consumed")
        await wait_for(lambda: not first.pending, what="commit")
    assert sales_of(container, strip=()) == before


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
async def test_the_mongodb_store_honours_the_guard_in_any_order(container: Container, order: tuple[int, ...]) -> None:
    sale = SAMPLES[2]
    lifecycle = [
        sale_event(sale, 1, "create"),
        sale_event(changed(sale, 2), 2),
        sale_event(sale, 3, "delete"),
        sale_event(changed(sale, 2), 2),
    ]
    projector = Projector(container.store, None)
    for offset, index in enumerate(order):
        item = lifecycle[index]
        await projector.apply([Record("t", 0, offset, item.key, item.to_bytes())])
    assert versions_of(container) == {}
    again = [sale_event(sale, 4, "create"), sale_event(changed(sale, 2), 2), sale_event(sale, 3, "delete")]
    await projector.apply([Record("t", 0, 10 + i, e.key, e.to_bytes()) for i, e in enumerate(again)])
    assert versions_of(container) == {sale.id: 4}


async def test_poison_goes_to_the_dlq_with_headers_and_quarantines_its_sale(container: Container) -> None:
    settings = container.settings
    poisoned, healthy = SAMPLES[0], SAMPLES[1]
    await produce(
        settings,
        [
            sale_event(poisoned, 1, "create"),
            (poisoned.id.encode(), b'{"event_type": "sale.updated", "version": "two"}'),
            (b"garbage-key", b"\x00\x01 not json"),
            sale_event(healthy, 1, "create"),
            sale_event(changed(poisoned, 3), 3),
        ],
    )
    async with consuming(container):
        await wait_for(lambda: healthy.id in versions_of(container), what="the next event applied")
        await wait_for(lambda: container.reader.parked() == 1, what="parked")
        assert versions_of(container)[poisoned.id] == 1
        assert container.reader.quarantined() == 1

        messages = await dead_letters(settings)
        assert len(messages) == 2
        headers = dict(messages[0].headers)
        assert set(headers) >= {
            "error.class",
            "error.message",
            "source.topic",
            "source.partition",
            "source.offset",
            "dlq.time",
        }
        assert headers["source.topic"].decode() == settings.sales_topic
        assert messages[0].value == b'{"event_type": "sale.updated", "version": "two"}'

        await produce(settings, [sale_event(changed(poisoned, 4), 4, repair=True)])
        await wait_for(lambda: versions_of(container)[poisoned.id] == 4, what="the repair")
        assert container.reader.quarantined() == 0
        assert container.reader.parked() == 0


def too_costly(sale: Sale) -> Sale:
    """Within every rule of the contract today, but its total in cents is beyond a 64-bit integer."""
    item = sale.items[0].model_copy(update={"price": Decimal("9999999999.99"), "quantity": 1_000_000})
    return sale.model_copy(update={"items": [item] * 100})


async def test_a_record_that_cannot_be_stored_is_dead_lettered_and_the_consumer_goes_on(
    container: Container,
) -> None:
    """One sale whose cents overflow int64 and one whose version does not fit BSON used to raise
    OverflowError out of the consumer, which exited and met the same batch at every restart."""
    settings = container.settings
    rng = random.Random(11)
    kept, costly, huge, after = (new_sale(rng) for _ in range(4))
    costly = too_costly(costly)
    await produce(
        settings,
        [
            sale_event(kept, 1, "create"),
            sale_event(costly, 1, "create"),
            SaleEvent.for_change(
                event_type="sale.updated", sale_id=huge.id, version=2**63, occurred_at=BASE, sale=huge
            ),
            sale_event(after, 1, "create"),
            sale_event(changed(kept, 2), 2),
        ],
    )
    async with consuming(container) as loop:
        await wait_for(lambda: versions_of(container) == {kept.id: 2, after.id: 1}, what="the other sales")
        await wait_for(lambda: not loop.pending, what="the commit")
        # The poison may be in a batch of its own, whose quarantine is written after its DLQ send.
        await wait_for(lambda: container.reader.quarantined() == 2, what="the quarantine")

        await produce(settings, [sale_event(changed(after, 2), 2)])
        await wait_for(lambda: versions_of(container).get(after.id) == 2, what="a later batch")

    messages = await dead_letters(settings)
    assert sorted(m.key for m in messages) == sorted([costly.id.encode(), huge.id.encode()])
    for message in messages:
        headers = {k: v.decode() for k, v in message.headers}
        assert headers["source.topic"] == settings.sales_topic
        assert {"error.class", "error.message", "source.partition", "source.offset", "dlq.time"} <= set(headers)
    huge_headers = {k: v.decode() for m in messages if m.key == huge.id.encode() for k, v in m.headers}
    assert huge_headers["error.class"] == "UnstorableRecord"
    assert "8-byte ints" in huge_headers["error.message"]

    offsets = KafkaOffsets(settings, settings.consumer_group)
    try:
        assert await offsets.committed(settings.sales_topic) == {
            p: end for p, end in (await offsets.end_offsets(settings.sales_topic)).items() if end
        }
    finally:
        await offsets.close()


async def test_a_poison_record_alone_in_its_batch_keeps_the_freshness_watermark(container: Container) -> None:
    settings = container.settings
    sale = SAMPLES[3]
    created = sale_event(sale, 1, "create")
    await produce(settings, [created])
    async with consuming(container):

        def watermark() -> tuple[int, object] | None:
            found = list(container.reader.freshness(settings.sales_topic).values())
            return (int(found[0]["offset"]), found[0].get("last_occurred_at")) if found else None

        await wait_for(lambda: watermark() == (0, created.occurred_at), what="the first watermark")
        await produce(settings, [(sale.id.encode(), b"not an event")])
        await wait_for(lambda: (watermark() or (0,))[0] == 1, what="the poison record's progress")
        assert watermark() == (1, created.occurred_at)

    partition = next(iter(container.reader.freshness(settings.sales_topic)))
    older = created.occurred_at - timedelta(days=1)
    container.store.record_progress([Progress(settings.sales_topic, partition, 0, older)])
    assert watermark() == (1, created.occurred_at), "offset and date only move forward"
