"""Duplicates, replays, reordering, poison records and quarantine against real Kafka and FerretDB."""

from __future__ import annotations

import itertools

import pytest
from aiokafka import AIOKafkaConsumer

from supply_projector.bootstrap import Projection
from supply_projector.service_layer.ports import Record
from supply_projector.service_layer.projection import Projector

from .conftest import consuming, produce, sales_of, versions_of, wait_for
from .events import SAMPLES, changed, history, sale_event

pytestmark = pytest.mark.integration


async def test_duplicates_and_a_replay_from_offset_zero_change_nothing(projection: Projection) -> None:
    events, final = history(40, 80)
    await produce(projection.settings, events)
    async with consuming(projection):
        await wait_for(lambda: versions_of(projection) == final, what="all versions")
    before = sales_of(projection, strip=())

    await produce(projection.settings, events[::-1])
    replay = projection.settings.model_copy(update={"consumer_group": projection.settings.consumer_group + "_replay"})
    async with consuming(projection) as first, consuming(Projection(**{**projection.__dict__, "settings": replay})):
        await wait_for(lambda: first.batches > 0, what="duplicates consumed")
        await wait_for(lambda: not first.pending, what="commit")
    assert sales_of(projection, strip=()) == before


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
async def test_the_mongodb_store_honours_the_guard_in_any_order(projection: Projection, order: tuple[int, ...]) -> None:
    sale = SAMPLES[2]
    lifecycle = [
        sale_event(sale, 1, "create"),
        sale_event(changed(sale, 2), 2),
        sale_event(sale, 3, "delete"),
        sale_event(changed(sale, 2), 2),
    ]
    projector = Projector(projection.store, None)
    for offset, index in enumerate(order):
        item = lifecycle[index]
        await projector.apply([Record("t", 0, offset, item.key, item.to_bytes())])
    assert versions_of(projection) == {}
    again = [sale_event(sale, 4, "create"), sale_event(changed(sale, 2), 2), sale_event(sale, 3, "delete")]
    await projector.apply([Record("t", 0, 10 + i, e.key, e.to_bytes()) for i, e in enumerate(again)])
    assert versions_of(projection) == {sale.id: 4}


async def test_poison_goes_to_the_dlq_with_headers_and_quarantines_its_sale(projection: Projection) -> None:
    settings = projection.settings
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
    async with consuming(projection):
        await wait_for(lambda: healthy.id in versions_of(projection), what="the next event applied")
        await wait_for(lambda: projection.reader.parked() == 1, what="parked")
        assert versions_of(projection)[poisoned.id] == 1
        assert projection.reader.quarantined() == 1

        dlq = AIOKafkaConsumer(
            settings.dlq_topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
        )
        await dlq.start()
        try:
            batches = await dlq.getmany(timeout_ms=5000)
            messages = [m for ms in batches.values() for m in ms]
        finally:
            await dlq.stop()
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
        await wait_for(lambda: versions_of(projection)[poisoned.id] == 4, what="the repair")
        assert projection.reader.quarantined() == 0
        assert projection.reader.parked() == 0
