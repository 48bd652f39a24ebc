"""The version guard over every ordering of one sale's events, in every batching."""

from __future__ import annotations

import itertools

import pytest

from supply_common.contract import METADATA_FIELD, from_document
from supply_projector.domain.changes import Change, Delete, collapse, plan, verdict
from supply_projector.domain.rollups import contribution, total
from supply_projector.service_layer.projector import Projector

from .conftest import MemoryStore
from .events import SAMPLES, event, record, records_of, variant

SALE = SAMPLES[0]


def splits(n: int) -> list[list[int]]:
    """Every way to cut a sequence of n into consecutive batches (as batch sizes)."""
    result = []
    for cuts in itertools.product([False, True], repeat=n - 1):
        sizes, size = [], 1
        for cut in cuts:
            if cut:
                sizes.append(size)
                size = 1
            else:
                size += 1
        sizes.append(size)
        result.append(sizes)
    return result


async def apply_in_batches(events: list, sizes: list[int]) -> MemoryStore:
    """Apply in both write modes (versions read first, or inserts tried first); they must agree."""
    stores = []
    for reads_versions in (True, False):
        store = MemoryStore(reads_versions=reads_versions)
        projector = Projector(store, None)
        records = records_of(events)
        start = 0
        for size in sizes:
            await projector.apply(records[start : start + size])
            start += size
        stores.append(store)
    held = [{k: (d["_supply"]["version"], d["_supply"]["hash"]) for k, d in s.copy.items()} for s in stores]
    assert held[0] == held[1]
    assert stores[0].tombstone == stores[1].tombstone
    return stores[0]


LIFECYCLE = [event(SALE, 1, "create"), event(SALE, 2), event(SALE, 3, "delete"), event(SALE, 2)]
UPDATES = [event(SALE, 1, "create"), event(SALE, 2), event(SALE, 2), event(SALE, 3)]
RECREATE = [event(SALE, 1, "create"), event(SALE, 2, "delete"), event(SALE, 3, "create"), event(SALE, 1, "create")]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
async def test_create_update_delete_and_a_duplicate_end_deleted_in_any_order(order: tuple[int, ...]) -> None:
    events = [LIFECYCLE[i] for i in order]
    for sizes in splits(len(events)):
        store = await apply_in_batches(events, sizes)
        assert SALE.id not in store.copy, (order, sizes)
        assert store.tombstone[SALE.id] == 3


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
async def test_updates_and_duplicates_end_at_the_newest_version_in_any_order(order: tuple[int, ...]) -> None:
    events = [UPDATES[i] for i in order]
    for sizes in splits(len(events)):
        store = await apply_in_batches(events, sizes)
        document = store.copy[SALE.id]
        assert document[METADATA_FIELD]["version"] == 3
        assert from_document(document) == variant(SALE, 3)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
async def test_a_sale_recreated_after_delete_survives_late_older_events(order: tuple[int, ...]) -> None:
    events = [RECREATE[i] for i in order]
    for sizes in splits(len(events)):
        store = await apply_in_batches(events, sizes)
        assert store.copy[SALE.id][METADATA_FIELD]["version"] == 3, (order, sizes)


async def test_replaying_everything_changes_nothing() -> None:
    store = MemoryStore()
    projector = Projector(store, None)
    records = records_of(UPDATES)
    await projector.apply(records)
    before = {k: dict(v) for k, v in store.copy.items()}
    again = await projector.apply(records)
    assert again.applied == 0
    assert again.stale == len(records)
    assert store.copy == before


async def test_a_repair_overwrites_an_equal_version_but_a_plain_duplicate_does_not() -> None:
    store = MemoryStore()
    projector = Projector(store, None)
    await projector.apply(records_of([event(SALE, 2)]))
    changed = SALE.model_copy(update={"couponUsed": not SALE.couponUsed})
    from supply_common.contract import SaleEvent

    plain = SaleEvent.for_change(
        event_type="sale.updated", sale_id=SALE.id, version=2, occurred_at=LIFECYCLE[0].occurred_at, sale=changed
    )
    await projector.apply(records_of([plain]))
    assert from_document(store.copy[SALE.id]).couponUsed == SALE.couponUsed
    repair = plain.model_copy(update={"repair": True})
    await projector.apply(records_of([repair]))
    assert from_document(store.copy[SALE.id]).couponUsed == changed.couponUsed


def change(version: int, deleted: bool = False, repair: bool = False, offset: int = 0) -> Change:
    return Change(SALE.id, version, None if deleted else {"v": version}, repair=repair, offset=offset)


def test_verdicts() -> None:
    assert verdict(change(2), None, None) == "write"
    assert verdict(change(2), 1, None) == "write"
    assert verdict(change(2), 2, None) == "stale"
    assert verdict(change(2, repair=True), 2, None) == "write"
    assert verdict(change(2, repair=True), 3, None) == "stale"
    assert verdict(change(2), None, 2) == "stale"
    assert verdict(change(3), None, 2) == "write"
    assert verdict(change(3, deleted=True), 5, None) == "delete"
    assert verdict(change(3, deleted=True), None, 3) == "stale"


def test_collapse_keeps_the_newest_change_per_sale() -> None:
    kept, superseded = collapse([change(1), change(3, offset=1), change(2, offset=2), change(3, repair=True, offset=3)])
    assert superseded == 3
    assert kept[0].version == 3
    assert kept[0].repair


def test_a_delete_of_a_newer_document_keeps_the_document() -> None:
    decided = plan([change(3, deleted=True)], {SALE.id: 5}, {})
    assert len(decided.ops) == 1
    assert decided.ops[0].remove_document is False  # type: ignore[union-attr]


async def test_a_duplicate_first_create_changes_nothing_in_the_copy_or_the_rollups() -> None:
    """Every sale of a batch is read first, first creates too: a create published twice (at two
    offsets) must neither roll the sale back nor count it twice in the buckets."""
    asked: list[list[str]] = []

    class Watched(MemoryStore):
        def documents(self, sale_ids):
            asked.append(list(sale_ids))
            return super().documents(sale_ids)

    store = Watched()
    projector = Projector(store, None)
    first, second = SAMPLES[0], SAMPLES[1]
    await projector.apply(records_of([event(first, 1, "create"), event(second, 1, "create"), event(second, 2)]))
    assert asked == [sorted([first.id, second.id])]
    await projector.apply([record(event(first, 2).to_bytes(), first.id.encode(), 3)])
    counted = {bucket: dict(values) for bucket, values in store.buckets.items()}
    replayed = await projector.apply([record(event(first, 1, "create").to_bytes(), first.id.encode(), 4)])
    assert asked[-1] == [first.id]
    assert replayed.applied == 0
    assert replayed.stale == 1
    assert store.copy[first.id][METADATA_FIELD]["version"] == 2
    assert store.buckets == counted == total(contribution(d) for d in store.copy.values())


class Interrupted(Exception):
    pass


async def test_a_delete_interrupted_between_its_tombstone_and_the_removal_is_finished_on_retry() -> None:
    """The store writes the tombstone, then fails (the server went away) before removing the document."""

    class FailingAfterTombstones(MemoryStore):
        fail = False

        def execute(self, ops):
            if self.fail:
                self.fail = False
                for op in ops:
                    if isinstance(op, Delete):
                        self.tombstone[op.change.sale_id] = op.change.version
                raise Interrupted
            return super().execute(ops)

    for reads_versions in (True, False):
        store = FailingAfterTombstones(reads_versions=reads_versions)
        projector = Projector(store, None)
        await projector.apply(records_of([event(SALE, 1, "create"), event(SALE, 2)]))
        batch = records_of([event(SALE, 3, "delete")])
        store.fail = True
        with pytest.raises(Interrupted):
            await projector.apply(batch)
        assert SALE.id in store.copy
        await projector.apply(batch)
        assert SALE.id not in store.copy
        assert store.tombstone[SALE.id] == 3
