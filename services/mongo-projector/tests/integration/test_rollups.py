"""The rollups against FerretDB or MongoDB and a real topic: whatever the topic replays, duplicates,
reorders, deletes and re-creates, the buckets equal a recomputation from the copy; a copy made
before rollups, or with rollups in an earlier shape, gets them on start; a batch stopped between a
month's document and its days' document is finished by the next attempt; reconcile finds and
repairs a bucket that drifted."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from bson.int64 import Int64

from supply_common.contract import PURCHASE_METHODS, STORES, Sale, SaleEvent
from supply_projector.adapters.rollups import BUILT, MongoRollups, document_id, rollup_collections
from supply_projector.bootstrap import Container, bootstrap
from supply_projector.domain.rollups import Buckets
from supply_projector.service_layer import rollup_checks
from supply_projector.service_layer.ports import Checkpoint, CheckpointMoved, Record
from supply_projector.service_layer.projector import Projector

from .conftest import consuming, produce, versions_of, wait_for
from .events import new_sale, sale_event

pytestmark = pytest.mark.integration


def moved(sale: Sale, rng: random.Random) -> Sale:
    """The sale with the figures analytics show changed: store, method, coupon, date, quantities."""
    return sale.model_copy(
        update={
            "storeLocation": rng.choice(STORES),
            "purchaseMethod": rng.choice(PURCHASE_METHODS),
            "couponUsed": not sale.couponUsed,
            "saleDate": datetime(2016, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randint(0, 400 * 24)),
            "items": [item.model_copy(update={"quantity": rng.randint(1, 9)}) for item in sale.items],
        }
    )


def churn(count: int, seed: int) -> tuple[list[SaleEvent], dict[str, int | None]]:
    """Creates, updates, duplicates, a late older version, deletes and re-creates; the final version
    of each sale (None: deleted)."""
    rng = random.Random(seed)
    events: list[SaleEvent] = []
    final: dict[str, int | None] = {}
    for n in range(count):
        sale = new_sale(rng)
        if n == 0:  # a name FerretDB would refuse as a field name, were it not encoded
            item = sale.items[0].model_copy(update={"name": "a.b$c", "tags": ["x.y", "$z"]})
            sale = sale.model_copy(update={"items": [item, *sale.items[1:]]})
        history = [sale_event(sale, 1, "create")]
        version = 1
        for _ in range(rng.randint(0, 4)):
            version += 1
            kind = rng.choice(["update", "update", "delete", "create"])
            history.append(sale_event(moved(sale, rng), version, kind))
        if len(history) > 1:
            history.insert(rng.randint(1, len(history)), rng.choice(history[:-1]))  # a duplicate or a late one
        events += history
        final[sale.id] = None if history_last(history).data is None else history_last(history).version
    return events, final


def history_last(history: list[SaleEvent]) -> SaleEvent:
    return max(history, key=lambda e: e.version)


def buckets_and_recomputation(container: Container) -> tuple[Buckets, Buckets]:
    rollups = container.store.pinned().rollups()
    stored = {bucket: held.counters for bucket, held in rollups.stored_buckets().items() if held.counters}
    return stored, rollup_checks.recompute(rollups)


def settled(container: Container, final: dict[str, int | None]) -> bool:
    present = {sale_id: version for sale_id, version in final.items() if version is not None}
    return versions_of(container) == present


async def test_replays_duplicates_reorders_deletes_and_recreates_count_once(container: Container) -> None:
    events, final = churn(40, seed=31)
    await produce(container.settings, events)
    async with consuming(container):
        await wait_for(lambda: settled(container, final), what="the copy")
    stored, recomputed = buckets_and_recomputation(container)
    assert stored == recomputed
    assert stored

    # The whole topic again, as a consumer group that starts from offset 0 would (a lost commit).
    await produce(container.settings, events[::-1][:30])
    group = container.settings.consumer_group + "-again"
    replay = bootstrap(container.settings.model_copy(update={"consumer_group": group}))
    try:
        async with consuming(replay):
            await wait_for(lambda: settled(container, final), what="the replay")
            ends = len(events) + 30
            await wait_for(
                lambda: sum(c.last + 1 for c in container.store.pinned().checkpoints(list(range(6))).values()) == ends,
                what="the replay's checkpoints",
            )
    finally:
        replay.close()
    assert buckets_and_recomputation(container) == (stored, recomputed)


EARLIER_SHAPES = {
    "none": {},
    "one nested document per bucket": {
        "_rollups": [{"_id": "m:2016-01", "n": Int64(3), "store": {"Denver": {"n": Int64(3)}}}],
        "_rollup_days": [{"_id": "d:2016-01-05", "n": Int64(3)}],
    },
    "one document per month with its days": {
        "_rollup_months": [
            {"_id": BUILT, "state": "built", "owner": "consumer", "at": datetime(2026, 1, 1, tzinfo=UTC)},
            {
                "_id": "m:2016-01",
                "rev": Int64(4),
                "wm": {"0": Int64(7)},
                "m": json.dumps({"n": 3, "c": 900}),
                "d": json.dumps({"d:2016-01-05": {"n": 3, "c": 900}}),
            },
        ],
    },
}


@pytest.mark.parametrize("shape", EARLIER_SHAPES)
async def test_a_copy_made_before_rollups_gets_them_on_start(container: Container, shape: str) -> None:
    """A copy without rollups in the current shape (none at all, or only in an earlier shape, even
    one marked complete) gets them built from the copy on start; the earlier collections go."""
    events, final = churn(20, seed=32)
    await produce(container.settings, events)
    async with consuming(container):
        await wait_for(lambda: settled(container, final), what="the copy")
    sales = container.active.name()
    for name in rollup_collections(sales):
        container.database.drop_collection(name)
    for suffix, documents in EARLIER_SHAPES[shape].items():
        container.database[sales + suffix].insert_many(documents)

    more, more_final = churn(10, seed=33)
    await produce(container.settings, more)
    async with consuming(container):
        await wait_for(lambda: settled(container, final | more_final), what="the rest")
    assert container.database[rollup_collections(sales).months].find_one({"_id": BUILT})["state"] == "built"
    stored, recomputed = buckets_and_recomputation(container)
    assert stored == recomputed
    left = set(container.database.list_collection_names())
    assert not {sales + suffix for suffix in EARLIER_SHAPES[shape]} & left


async def test_reconcile_reports_a_drifted_bucket_and_repair_replaces_it(container: Container) -> None:
    events, final = churn(15, seed=34)
    await produce(container.settings, events)
    async with consuming(container):
        await wait_for(lambda: settled(container, final), what="the copy")
    rollups = container.store.pinned().rollups()
    assert rollup_checks.check(rollups).differing == {}

    names = rollup_collections(container.active.name())
    month = container.database[names.months].find_one({"_id": {"$regex": "^m:"}})
    drifted = json.loads(month["m"])
    drifted["n"] += 5
    drifted["store.Denver.c"] = drifted.get("store.Denver.c", 0) - 100
    container.database[names.months].update_one({"_id": month["_id"]}, {"$set": {"m": json.dumps(drifted)}})
    container.database[names.days].insert_one(
        {"_id": "d:1999-01", "rev": Int64(1), "wm": {}, "d": json.dumps({"d:1999-01-01": {"n": 1, "c": 10}})}
    )
    found = rollup_checks.check(rollups)
    assert sorted(found.differing) == sorted([month["_id"], "d:1999-01-01"])
    assert rollup_checks.repair(rollups, found) == (2, 0)
    assert rollup_checks.check(rollups).differing == {}
    stored, recomputed = buckets_and_recomputation(container)
    assert stored == recomputed


async def test_a_sale_edited_in_the_copy_by_hand_is_counted_right_once_its_days_are_recounted(
    container: Container,
) -> None:
    """The rollups count what the projector applied; a repair event moves them from the edited
    document, so the edited and the repaired day (and their months) are off until recounted."""
    rng = random.Random(35)
    sales = [new_sale(rng) for _ in range(6)]
    sales = [
        s.model_copy(update={"saleDate": datetime(2016, 3, 1 + n % 2, 10, tzinfo=UTC)}) for n, s in enumerate(sales)
    ]
    await produce(container.settings, [sale_event(sale, 1, "create") for sale in sales])
    async with consuming(container):
        await wait_for(lambda: len(versions_of(container)) == len(sales), what="the sales")
        edited = sales[0]
        container.database[container.active.name()].update_one(
            {"_id": ObjectId(edited.id)},
            {"$set": {"saleDate": datetime(2016, 5, 9, 12, tzinfo=UTC), "storeLocation": "Nowhere"}},
        )
        await produce(container.settings, [sale_event(edited, 1, "update", repair=True)])
        await wait_for(
            lambda: container.store.documents([edited.id])[edited.id]["storeLocation"] == edited.storeLocation,
            what="the repair",
        )
    rollups = container.store.pinned().rollups()
    stored, recomputed = buckets_and_recomputation(container)
    assert {b for b in set(stored) | set(recomputed) if stored.get(b) != recomputed.get(b)} == {
        "d:2016-03-01",
        "m:2016-03",
        "d:2016-05-09",
        "m:2016-05",
    }

    assert rollup_checks.recount(rollups, ["d:2016-05-09", "d:2016-03-01"]) == (4, 0)
    stored, recomputed = buckets_and_recomputation(container)
    assert stored == recomputed
    assert rollup_checks.recount(rollups, ["d:2016-03-01", "d:2016-03-02"]) == (0, 0)


def test_deltas_recorded_in_the_earlier_checkpoint_form_are_still_added(container: Container) -> None:
    """A checkpoint written before pending deltas became one string (`[{b, k, v}]`), by a process
    that stopped before adding them, is finished like any other."""
    container.store.ensure_indexes()
    rollups = container.store.pinned().rollups()
    checkpoints = rollup_collections(container.active.name()).checkpoints
    container.database[checkpoints].insert_one(
        {
            "_id": "checkpoint:3",
            "last": Int64(41),
            "pending": [
                {"b": "d:2016-02-29", "k": ["n", "c", "store.Denver.n"], "v": [Int64(1), Int64(2599), Int64(1)]},
                {"b": "m:2016-02", "k": ["n", "c", "store.Denver.n"], "v": [Int64(1), Int64(2599), Int64(1)]},
            ],
        }
    )
    assert container.store.pinned().checkpoints([3])[3].pending == {
        "d:2016-02-29": {"n": 1, "c": 2599, "store.Denver.n": 1},
        "m:2016-02": {"n": 1, "c": 2599, "store.Denver.n": 1},
    }
    assert rollup_checks.finish_pending(rollups) == 1
    assert rollup_checks.finish_pending(rollups) == 1  # adding them again changes nothing
    stored = {bucket: held.counters for bucket, held in rollups.stored_buckets().items()}
    assert stored == {
        "d:2016-02-29": {"n": 1, "c": 2599, "store.Denver.n": 1},
        "m:2016-02": {"n": 1, "c": 2599, "store.Denver.n": 1},
    }


def test_a_sealed_checkpoint_takes_no_more_deltas_into_its_sum(container: Container) -> None:
    """A consumer summing its batches' deltas extends the checkpoint's `pending` only while nobody
    sealed it; whoever finishes the deltas seals it first, and the next batch records its own alone."""
    container.store.ensure_indexes()
    rollups = container.store.pinned().rollups()
    first = {"d:2016-03-01": {"n": 1, "c": 100}, "m:2016-03": {"n": 1, "c": 100}}
    both = {"d:2016-03-01": {"n": 1, "c": 100}, "d:2016-03-02": {"n": 2, "c": 50}, "m:2016-03": {"n": 3, "c": 150}}
    rollups.record_checkpoints([Checkpoint(0, 4, first)], {})
    rollups.record_checkpoints([Checkpoint(0, 9, both)], {0: 4}, extending=[0])
    assert rollups.checkpoints([0])[0] == Checkpoint(0, 9, both)
    with pytest.raises(CheckpointMoved):  # sealed at an offset it is not at
        rollups.seal([Checkpoint(0, 4)])
    assert rollup_checks.finish_pending(rollups) == 1  # seals, then adds
    assert rollups.checkpoints([0])[0] == Checkpoint(0, 9, both, sealed=True)
    with pytest.raises(CheckpointMoved):
        rollups.record_checkpoints([Checkpoint(0, 12, {"m:2016-03": {"n": 4, "c": 170}})], {0: 9}, extending=[0])
    alone = {"m:2016-03": {"n": 1, "c": 20}}
    rollups.record_checkpoints([Checkpoint(0, 12, alone)], {0: 9})
    assert rollups.checkpoints([0])[0] == Checkpoint(0, 12, alone)
    assert rollup_checks.finish_pending(rollups) == 1
    assert rollup_checks.finish_pending(rollups) == 1  # adding them again changes nothing
    assert {bucket: held.counters for bucket, held in rollups.stored_buckets().items()} == {
        "d:2016-03-01": {"n": 1, "c": 100},
        "d:2016-03-02": {"n": 2, "c": 50},
        "m:2016-03": {"n": 4, "c": 170},
    }


def test_a_batch_records_every_partition_in_one_statement_and_a_moved_one_refuses_them_all(
    container: Container,
) -> None:
    container.store.ensure_indexes()
    rollups = container.store.pinned().rollups()
    deltas = {"d:2016-03-01": {"n": 1, "c": 100}}
    first = [Checkpoint(p, 10 + p, deltas) for p in range(6)]
    rollups.record_checkpoints(first, {})
    recorded = rollups.checkpoints(list(range(6)))
    assert {p: (c.last, c.pending) for p, c in recorded.items()} == {p: (10 + p, deltas) for p in range(6)}
    with pytest.raises(CheckpointMoved):  # partition 2 is new to this caller: another recorded it
        rollups.record_checkpoints([Checkpoint(1, 20), Checkpoint(2, 20)], {1: 11, 2: None})
    with pytest.raises(CheckpointMoved):  # partition 4 moved on meanwhile
        rollups.record_checkpoints([Checkpoint(3, 30), Checkpoint(4, 30)], {3: 13, 4: 9})
    assert {p: c.last for p, c in rollups.checkpoints([1, 2, 3, 4]).items()} == {1: 11, 2: 12, 3: 13, 4: 14}
    rollups.record_checkpoints([Checkpoint(3, 30), Checkpoint(4, 31)], {3: 13, 4: 14})
    assert {p: c.last for p, c in rollups.checkpoints([3, 4, 6]).items()} == {3: 30, 4: 31}


def test_checkpoints_kept_a_document_each_are_moved_into_one(container: Container) -> None:
    """Checkpoints written by an earlier version (a document per partition) are read, moved into the
    one document once (a partition already there keeps its own), and removed."""
    container.store.ensure_indexes()
    rollups = container.store.pinned().rollups()
    names = rollup_collections(container.active.name())
    rollups.record_checkpoints([Checkpoint(2, 50)], {})
    pending = {"m:2016-03": {"n": 1}}
    container.database[names.checkpoints].insert_many(
        [
            {"_id": "checkpoint:0", "last": Int64(7), "pending": json.dumps(pending)},
            {"_id": "checkpoint:2", "last": Int64(40)},
        ]
    )
    found = rollups.checkpoints([0, 1, 2])
    assert {p: (c.last, c.pending) for p, c in found.items()} == {0: (7, pending), 2: (50, {})}
    assert [d["_id"] for d in container.database[names.checkpoints].find({})] == ["partitions"]
    rollups.record_checkpoints([Checkpoint(0, 8), Checkpoint(1, 3)], {0: 7, 1: None})
    assert {p: c.last for p, c in rollups.checkpoints([0, 1, 2]).items()} == {0: 8, 1: 3, 2: 50}


def test_consumers_adding_to_the_same_months_at_once_count_each_delta_once(container: Container) -> None:
    """Six partitions' consumers add their deltas to the same month at the same time, each batch
    twice (a replay): every month is written under a compare-and-set, so none is lost or doubled."""
    container.store.ensure_indexes()

    def consume(partition: int) -> None:
        rollups = container.store.pinned().rollups()
        for last in range(8):
            pending = {
                "m:2016-01": {"n": 1, "c": partition},
                f"d:2016-01-0{partition + 1}": {"n": 1},
                "m:2016-02": {"n": 2},
                "d:2016-02-29": {"n": 2},
            }
            for _ in range(2):
                rollups.add_to_buckets([Checkpoint(partition, last, pending)])

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(consume, range(6)))
    stored = {bucket: held.counters for bucket, held in container.store.pinned().rollups().stored_buckets().items()}
    assert stored == {
        "m:2016-01": {"n": 48, "c": 8 * sum(range(6))},
        **{f"d:2016-01-0{p + 1}": {"n": 8} for p in range(6)},
        "m:2016-02": {"n": 96},
        "d:2016-02-29": {"n": 96},
    }


class Stopped(Exception):
    """The process stopped here."""


def revs(container: Container) -> dict[str, int]:
    """Each rollup document's `rev`, by collection and id."""
    names = rollup_collections(container.active.name())
    return {
        f"{name}/{document['_id']}": int(document["rev"])
        for name in (names.months, names.days)
        for document in container.database[name].find({"_id": {"$ne": BUILT}}, {"rev": 1})
    }


@pytest.mark.parametrize("then", ["the batch again", "a take-over"])
async def test_a_batch_stopped_between_a_month_and_its_days_is_finished_by_the_next_attempt(
    container: Container, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    """A batch's sales of one month add to the month's document and to its days' document, each
    written once; a stop after the month's write leaves the deltas in the checkpoint, and the next
    attempt (the batch again, or a take-over of the partition) writes the days' document only."""
    container.store.ensure_indexes()
    rng = random.Random(35)
    march = datetime(2016, 3, 1, tzinfo=UTC)
    sales = [new_sale(rng).model_copy(update={"saleDate": march + timedelta(days=n % 4, hours=n)}) for n in range(6)]
    first = [sale_event(sale, 1, "create") for sale in sales]
    second = [sale_event(moved(sale, rng).model_copy(update={"saleDate": sale.saleDate}), 2) for sale in sales]
    topic = container.settings.sales_topic
    records = [Record(topic, 0, n, e.key, e.to_bytes()) for n, e in enumerate(first + second)]
    names = rollup_collections(container.active.name())

    await Projector(container.store, None).apply(records[:6])
    assert revs(container) == {f"{names.months}/m:2016-03": 1, f"{names.days}/d:2016-03": 1}
    stored, recomputed = buckets_and_recomputation(container)
    assert stored == recomputed
    assert set(stored) == {"m:2016-03", *(f"d:2016-03-0{d}" for d in range(1, 5))}

    write_to = MongoRollups._write_to

    def stop_before_the_days(self: MongoRollups, collection: str, units: Any) -> set[str]:
        if collection == self.days and units:
            raise Stopped
        return write_to(self, collection, units)

    monkeypatch.setattr(MongoRollups, "_write_to", stop_before_the_days)
    projector = Projector(container.store, None)
    with pytest.raises(Stopped):
        await projector.apply(records[6:])
    monkeypatch.undo()
    assert revs(container) == {f"{names.months}/m:2016-03": 2, f"{names.days}/d:2016-03": 1}
    recorded = container.store.pinned().checkpoints([0])[0]
    assert recorded.last == 11
    assert {document_id(bucket) for bucket in recorded.pending or {}} == {"m:2016-03", "d:2016-03"}
    now, recomputed = buckets_and_recomputation(container)
    assert now["m:2016-03"] == recomputed["m:2016-03"]
    days_before = {bucket: c for bucket, c in stored.items() if bucket.startswith("d:")}
    assert {bucket: c for bucket, c in now.items() if bucket.startswith("d:")} == days_before

    if then == "the batch again":
        await projector.apply(records[6:])
    else:
        await Projector(container.store, None).take_over([0])
    assert revs(container) == {f"{names.months}/m:2016-03": 2, f"{names.days}/d:2016-03": 2}
    stored, recomputed = buckets_and_recomputation(container)
    assert stored == recomputed
