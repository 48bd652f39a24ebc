"""Poison records go to the DLQ; a poisoned sale's later events are parked until a repair."""

from __future__ import annotations

from decimal import Decimal

from supply_common.contract import Sale
from supply_projector.service_layer.ports import Checkpoint
from supply_projector.service_layer.projector import PoisonRecord, Projector, UnstorableRecord

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
    assert OTHER.id in store.copy
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
    assert store.copy[SALE.id]["_supply"]["version"] == 1
    assert [p.record.offset for p in store.parked] == [2]

    later = await projector.apply([record(event(SALE, 4).to_bytes(), key, 3)])
    assert later.parked == 1
    assert store.copy[SALE.id]["_supply"]["version"] == 1

    await projector.apply([record(event(SALE, 4, repair=True).to_bytes(), key, 4)])
    assert SALE.id not in store.quarantine
    assert store.parked == []
    assert store.copy[SALE.id]["_supply"]["version"] == 4


async def test_a_key_that_differs_from_the_sale_id_is_poison(store: MemoryStore, dead_letters: ListDeadLetters) -> None:
    projector = Projector(store, dead_letters)
    result = await projector.apply([record(event(SALE, 1, "create").to_bytes(), OTHER.id.encode(), 0)])
    assert result.dead_lettered == 1
    assert SALE.id not in store.copy
    assert OTHER.id in store.quarantine


async def test_progress_tracks_the_last_offset_and_occurred_at_per_partition(store: MemoryStore) -> None:
    store.checkpoint[1] = Checkpoint(1, 6)  # the rollups have counted the partition up to offset 6
    projector = Projector(store, None)
    first, second = event(SALE, 1, "create"), event(OTHER, 2, "create")
    result = await projector.apply(
        [record(first.to_bytes(), first.key, 7, partition=1), record(second.to_bytes(), second.key, 9, partition=1)]
    )
    progress = result.progress[("t", 1)]
    assert progress.offset == 9
    assert progress.last_occurred_at == second.occurred_at


def too_costly(sale: Sale) -> Sale:
    """A sale within every rule of the contract whose total in cents is beyond a 64-bit integer."""
    item = sale.items[0].model_copy(update={"price": Decimal("9999999999.99"), "quantity": 1_000_000})
    return sale.model_copy(update={"items": [item] * 100})


async def test_a_sale_that_cannot_be_built_is_dead_lettered_and_the_rest_applies(
    store: MemoryStore, dead_letters: ListDeadLetters
) -> None:
    projector = Projector(store, dead_letters)
    bad = event(SALE, 2)
    bad = bad.model_copy(update={"data": bad.data.model_copy(update={"items": too_costly(SALE).items})})  # type: ignore[union-attr]
    result = await projector.apply(
        [
            record(event(SALE, 1, "create").to_bytes(), SALE.id.encode(), 0),
            record(bad.to_bytes(), SALE.id.encode(), 1),
            record(event(SALE, 3).to_bytes(), SALE.id.encode(), 2),
            record(event(OTHER, 1, "create").to_bytes(), OTHER.id.encode(), 3),
        ]
    )
    assert result.dead_lettered == 1
    [(sent, error)] = dead_letters.sent
    assert sent.offset == 1
    assert isinstance(error, PoisonRecord)  # a contract that caps totals refuses it when decoding
    assert store.copy[SALE.id]["_supply"]["version"] == 1
    assert SALE.id in store.quarantine
    assert [p.record.offset for p in store.parked] == [2]
    assert OTHER.id in store.copy


async def test_a_write_the_store_cannot_encode_is_dead_lettered_and_the_rest_is_written(
    store: MemoryStore, dead_letters: ListDeadLetters
) -> None:
    store.unencodable.add(SALE.id)
    projector = Projector(store, dead_letters)
    result = await projector.apply(
        [
            record(event(SALE, 1, "create").to_bytes(), SALE.id.encode(), 0),
            record(event(OTHER, 1, "create").to_bytes(), OTHER.id.encode(), 1),
        ]
    )
    assert (result.dead_lettered, result.applied) == (1, 1)
    [(sent, error)] = dead_letters.sent
    assert sent.offset == 0
    assert isinstance(error, UnstorableRecord)
    assert "OverflowError" in str(error)
    assert SALE.id not in store.copy
    assert SALE.id in store.quarantine
    assert OTHER.id in store.copy

    store.unencodable.clear()
    await projector.apply([record(event(SALE, 2, repair=True).to_bytes(), SALE.id.encode(), 2)])
    assert store.copy[SALE.id]["_supply"]["version"] == 2
    assert store.quarantine == {}


async def test_poison_alone_in_a_partition_leaves_its_date_unknown_not_older(store: MemoryStore) -> None:
    store.checkpoint.update({1: Checkpoint(1, 6), 2: Checkpoint(2, 2)})
    projector = Projector(store, None)
    first = event(SALE, 1, "create")
    result = await projector.apply(
        [record(first.to_bytes(), first.key, 7, partition=1), record(b"\xff", first.key, 8, partition=1)]
    )
    assert result.progress[("t", 1)].offset == 8
    assert result.progress[("t", 1)].last_occurred_at == first.occurred_at
    alone = await projector.apply([record(b"\xff", b"k", 3, partition=2)])
    assert alone.progress[("t", 2)].last_occurred_at is None
