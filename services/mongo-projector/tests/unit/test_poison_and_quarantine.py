"""Poison records go to the DLQ; a poisoned sale's later events are parked until a repair."""

from __future__ import annotations

from supply_projector.service_layer.projection import Projector

from .conftest import ListDeadLetters, MemoryStore
from .events import SAMPLES, event, record

SALE, OTHER = SAMPLES[0], SAMPLES[1]


async def test_poison_is_dead_lettered_and_the_next_events_still_apply(
    store: MemoryStore, dead_letters: ListDeadLetters
) -> None:
    projector = Projector(store, dead_letters)
    result = await projector.apply(
        [
            record(b"\xff not json", b"not-a-sale-id", 0),
            record(event(OTHER, 1, "create").to_bytes(), OTHER.id.encode(), 1),
        ]
    )
    assert result.dead_lettered == 1
    assert len(dead_letters.sent) == 1
    assert OTHER.id in store.documents
    assert store.quarantine == {}


async def test_a_poisoned_sale_is_parked_until_repaired(store: MemoryStore, dead_letters: ListDeadLetters) -> None:
    projector = Projector(store, dead_letters)
    key = SALE.id.encode()
    await projector.apply(
        [
            record(event(SALE, 1, "create").to_bytes(), key, 0),
            record(b'{"event_type": "sale.updated"}', key, 1),
            record(event(SALE, 3).to_bytes(), key, 2),
        ]
    )
    assert SALE.id in store.quarantine
    assert store.documents[SALE.id]["_supply"]["version"] == 1
    assert [p.record.offset for p in store.parked] == [2]

    later = await projector.apply([record(event(SALE, 4).to_bytes(), key, 3)])
    assert later.parked == 1
    assert store.documents[SALE.id]["_supply"]["version"] == 1

    await projector.apply([record(event(SALE, 4, repair=True).to_bytes(), key, 4)])
    assert SALE.id not in store.quarantine
    assert store.parked == []
    assert store.documents[SALE.id]["_supply"]["version"] == 4


async def test_a_key_that_differs_from_the_sale_id_is_poison(store: MemoryStore, dead_letters: ListDeadLetters) -> None:
    projector = Projector(store, dead_letters)
    result = await projector.apply([record(event(SALE, 1, "create").to_bytes(), OTHER.id.encode(), 0)])
    assert result.dead_lettered == 1
    assert SALE.id not in store.documents
    assert OTHER.id in store.quarantine


async def test_progress_tracks_the_last_offset_and_occurred_at_per_partition(store: MemoryStore) -> None:
    projector = Projector(store, None)
    first, second = event(SALE, 1, "create"), event(OTHER, 2, "create")
    result = await projector.apply(
        [record(first.to_bytes(), first.key, 7, partition=1), record(second.to_bytes(), second.key, 9, partition=1)]
    )
    progress = result.progress[("t", 1)]
    assert progress.offset == 9
    assert progress.last_occurred_at == second.occurred_at
