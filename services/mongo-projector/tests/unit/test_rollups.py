"""The rollups: what a sale contributes, and buckets equal to a recomputation from the copy whatever
the batches, duplicates, reorders, deletes and crashes between the protocol's steps."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from supply_common.contract import STORES, Sale, SaleEvent
from supply_projector.domain import money
from supply_projector.domain.changes import Op
from supply_projector.domain.document import stored_document
from supply_projector.domain.rollups import contribution, counters, delta, key, name_of, total, walk
from supply_projector.service_layer.ports import Checkpoint, Executed, Record
from supply_projector.service_layer.projector import Projector

from .conftest import MemoryStore
from .events import SAMPLES, event

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def document(sale: Sale, version: int = 1) -> dict[str, Any]:
    made = stored_document(
        SaleEvent.for_change(event_type="sale.created", sale_id=sale.id, version=version, occurred_at=NOW, sale=sale),
        NOW,
    )
    assert made is not None
    return made


def test_a_sale_adds_its_counters_to_its_day_and_its_month() -> None:
    sale = SAMPLES[0].model_copy(update={"saleDate": datetime(2017, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)})
    buckets = contribution(document(sale))
    assert set(buckets) == {"d:2017-12-31", "m:2017-12"}
    assert buckets["d:2017-12-31"] == buckets["m:2017-12"]
    day = buckets["d:2017-12-31"]
    cents = sum(int(item.price * item.quantity * 100) for item in sale.items)
    assert (day["n"], day["c"], day["q"]) == (1, cents, sum(item.quantity for item in sale.items))
    assert day[f"store.{key(sale.storeLocation)}.n"] == 1
    assert day[f"sat.{sale.customer.satisfaction}"] == 1
    assert day[f"coupon.{'true' if sale.couponUsed else 'false'}.n"] == 1
    assert sum(v for k, v in day.items() if k.startswith("item.") and k.endswith(".c")) == cents


@pytest.mark.parametrize("sale", SAMPLES)
def test_a_sale_counts_the_same_cents_whatever_type_the_server_stores_its_prices_in(sale: Sale) -> None:
    """Line revenue is computed from the stored prices: exact from the projection's Decimal, from
    MongoDB's Decimal128 and from FerretDB's doubles alike."""
    biggest = sale.items[0].model_copy(update={"price": Decimal("999999.99"), "quantity": 7})
    odd = sale.model_copy(update={"items": [biggest, *sale.items[1:]]})
    for case in (sale, odd):
        made = document(case)
        expected = counters(made)
        assert counters(money.encode(made, "decimal128")) == expected
        assert counters(money.encode(made, "double")) == expected
        for name in {key(item.name) for item in case.items}:
            cents = sum(int(item.price * item.quantity * 100) for item in case.items if key(item.name) == name)
            assert expected[f"item.{name}.c"] == cents


def test_names_from_the_data_never_put_a_dot_or_a_dollar_in_a_field_name() -> None:
    item = SAMPLES[0].items[0].model_copy(update={"name": "$set.5% off", "tags": ["a.b", "$x"]})
    sale = SAMPLES[0].model_copy(update={"items": [item]})
    paths = counters(document(sale))
    names = {part for path in paths for part in path.split(".")}
    assert not any("$" in part for part in names)
    assert f"item.{key('$set.5% off')}.q" in paths
    assert name_of(key("$set.5% off")) == "$set.5% off"


def test_a_delta_is_after_minus_before() -> None:
    before = document(SAMPLES[0])
    moved = SAMPLES[0].model_copy(update={"storeLocation": "London", "saleDate": datetime(2014, 2, 3, tzinfo=UTC)})
    after = document(moved, 2)
    assert delta(None, after) == contribution(after)
    assert delta(before, before) == {}
    assert total([contribution(before), delta(before, after)]) == contribution(after)
    assert total([contribution(after), delta(after, None)]) == {}


def test_changes_at_or_below_the_checkpoint_move_the_state_on_and_add_nothing() -> None:
    from supply_projector.domain.changes import Change
    from supply_projector.domain.rollups import Held

    sale = SAMPLES[0]
    one, two = document(sale), document(sale.model_copy(update={"storeLocation": "Austin"}), 2)
    changes = [Change(sale.id, 1, one, offset=5), Change(sale.id, 2, two, offset=6)]
    deltas, state = walk(changes, {}, {0: 5})
    assert deltas == {0: delta(one, two)}
    assert state[sale.id] == Held(two)
    deltas, _ = walk(changes, {sale.id: Held(two)}, {})
    assert deltas == {}  # the copy already holds version 2: nothing changes


# --- the protocol, with crashes -------------------------------------------------------------


def history(seed: int) -> list[Record]:
    """Events of a few sales over two partitions: creates, updates of the figures analytics show,
    duplicates, an older version arriving late, deletes and re-creates."""
    rng = random.Random(seed)
    records: list[Record] = []
    offsets = {0: 0, 1: 0}
    for n, template in enumerate(SAMPLES[:5]):
        partition = n % 2
        versions: list[SaleEvent] = []
        for version in range(1, rng.randint(3, 6)):
            if rng.random() < 0.2 and version > 1:
                versions.append(event(template, version, "delete"))
                continue
            sale = template.model_copy(
                update={
                    "storeLocation": rng.choice(STORES),
                    "couponUsed": rng.random() < 0.5,
                    "saleDate": datetime(2016, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 90)),
                    "items": [
                        item.model_copy(
                            update={"quantity": rng.randint(1, 5), "price": Decimal(rng.randint(1, 99)) / 4}
                        )
                        for item in template.items[: rng.randint(1, len(template.items))]
                    ],
                }
            )
            versions.append(event(sale, version, "create" if version == 1 else "update"))
        if len(versions) > 2:
            late = versions[rng.randrange(len(versions) - 1)]  # a duplicate, or an older version arriving late
            versions.insert(rng.randint(1, len(versions)), late)
        for item in versions:
            records.append(Record("t", partition, offsets[partition], item.key, item.to_bytes()))
            offsets[partition] += 1
    rng.shuffle(records)
    return sorted(records, key=lambda r: (r.offset, r.partition))  # partitions interleave; each in order


class Crash(Exception):
    pass


class CrashingStore(MemoryStore):
    """Fails at the `at`-th call of `step`, before, halfway through or after doing it."""

    step: str = ""
    when: str = ""
    at: int = 0
    calls: int = 0

    def _maybe_crash(self, step: str, phase: str) -> None:
        if step == self.step and phase == self.when and self.calls == self.at:
            self.step = ""
            raise Crash(f"{step} {phase}")

    def record_checkpoints(self, checkpoints: Sequence[Checkpoint], expected: Any, extending: Any = ()) -> None:
        self.calls += self.step == "record_checkpoints"
        self._maybe_crash("record_checkpoints", "before")
        super().record_checkpoints(checkpoints, expected, extending)
        self._maybe_crash("record_checkpoints", "after")

    def execute(self, ops: Sequence[Op]) -> Executed:
        self.calls += self.step == "execute"
        self._maybe_crash("execute", "before")
        if self.step == "execute" and self.when == "halfway" and self.calls == self.at:
            super().execute(ops[: len(ops) // 2])
            self._maybe_crash("execute", "halfway")
        done = super().execute(ops)
        self._maybe_crash("execute", "after")
        return done

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None:
        self.calls += self.step == "add_to_buckets"
        self._maybe_crash("add_to_buckets", "before")
        if self.step == "add_to_buckets" and self.when == "halfway" and self.calls == self.at:
            first = checkpoints[0]
            buckets = sorted(first.pending or {})[: max(1, len(first.pending or {}) // 2)]
            super().add_to_buckets([Checkpoint(first.partition, first.last, {b: first.pending[b] for b in buckets})])  # type: ignore[index]
            self._maybe_crash("add_to_buckets", "halfway")
        super().add_to_buckets(checkpoints)
        self._maybe_crash("add_to_buckets", "after")


async def run(store: MemoryStore, records: list[Record], rng: random.Random, *, hold: bool = False) -> None:
    """Consume like the loop: batches of random sizes, commit after each; after a crash, a new
    process starts from the committed offset with other batch boundaries. `hold`: the projector adds
    the deltas to the buckets only when told to, now and then between batches, and the last one is
    killed with deltas held: a new one takes its partitions over."""

    def start() -> Projector:
        return Projector(store, None, flush_every_s=3600.0 if hold else 0.0)

    committed = batches = 0
    projector = start()
    while committed < len(records):
        size = rng.randint(1, 3 if hold else 7)  # held: more batches, so that some wait together
        try:
            await projector.apply(records[committed : committed + size])
            committed += size
            batches += 1
            if hold and batches % 2 == 0:
                await projector.flush()
        except Crash:
            projector = start()
    while hold:
        try:
            await start().take_over([0, 1])
            return
        except Crash:
            continue


def recomputed(store: MemoryStore) -> dict[str, dict[str, int]]:
    return total(contribution(d) for d in store.copy.values())


@pytest.mark.parametrize("hold", [False, True])
@pytest.mark.parametrize("seed", range(6))
async def test_buckets_equal_a_recomputation_whatever_the_batches(seed: int, hold: bool) -> None:
    store = MemoryStore()
    await run(store, history(seed), random.Random(seed), hold=hold)
    assert store.buckets == recomputed(store)
    assert store.buckets  # something is left to count


@pytest.mark.parametrize(
    ("step", "when"),
    [
        ("record_checkpoints", "before"),
        ("record_checkpoints", "after"),
        ("execute", "before"),
        ("execute", "halfway"),
        ("execute", "after"),
        ("add_to_buckets", "before"),
        ("add_to_buckets", "halfway"),
        ("add_to_buckets", "after"),
    ],
)
@pytest.mark.parametrize("at", [1, 2, 3])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("hold", [False, True])
async def test_a_crash_between_any_two_steps_then_a_replay_still_counts_each_change_once(
    step: str, when: str, at: int, seed: int, hold: bool
) -> None:
    store = CrashingStore()
    store.step, store.when, store.at = step, when, at
    await run(store, history(seed), random.Random(seed + 100), hold=hold)
    assert store.step == "", "the crash was injected"
    assert store.buckets == recomputed(store)


async def test_held_deltas_are_recorded_summed_and_added_once_at_the_flush() -> None:
    """Batches whose deltas are held record the sum of them all in the checkpoint; the buckets get
    nothing until the flush, and then each change once."""
    store = MemoryStore()
    records = [r for r in history(4) if r.partition == 0]
    projector = Projector(store, None, flush_every_s=3600.0)
    for at in range(0, 6, 2):
        await projector.apply(records[at : at + 2])
    assert store.buckets == {}
    assert store.checkpoint[0].last == 5
    assert store.checkpoint[0].pending == recomputed(store)
    await projector.flush()
    assert store.buckets == recomputed(store)
    await projector.flush()  # nothing held: nothing added twice
    assert store.buckets == recomputed(store)


async def test_a_consumer_that_lost_its_partition_with_deltas_held_adds_none_twice() -> None:
    """The new owner seals the sum the old one recorded before adding it, so the old one cannot add
    to it any more: its next batch is refused, and what it still holds adds nothing twice."""
    from supply_projector.service_layer.ports import CheckpointMoved

    store = MemoryStore()
    mine = [r for r in history(5) if r.partition == 0]
    zombie, owner = Projector(store, None, flush_every_s=3600.0), Projector(store, None, flush_every_s=3600.0)
    await zombie.apply(mine[:2])
    await owner.take_over([0])  # seals and adds what the zombie recorded
    assert store.checkpoint[0].sealed
    with pytest.raises(CheckpointMoved):
        await zombie.apply(mine[2:4])
    await zombie.flush()  # forgotten with the refused batch: nothing is added
    await owner.apply(mine[:5])
    await owner.flush()
    await owner.apply(mine[5:])
    await owner.flush()
    assert store.buckets == recomputed(store)


async def test_a_consumer_that_lost_its_partition_cannot_record_over_the_new_owner() -> None:
    from supply_projector.service_layer.ports import CheckpointMoved

    store = MemoryStore()
    records = history(1)
    mine = [r for r in records if r.partition == 0]
    zombie, owner = Projector(store, None), Projector(store, None)
    await zombie.apply(mine[:2])
    await owner.apply(mine[:4])
    with pytest.raises(CheckpointMoved):
        await zombie.apply(mine[2:5])
    await owner.apply(mine[4:])
    await zombie.apply(mine[2:5])  # read again: all of it at or below the checkpoint now
    assert store.buckets == recomputed(store)


async def test_records_past_the_rollups_checkpoint_are_read_again_from_it() -> None:
    """A consumer whose position was reached on other collections (a rebuild swapped new ones in)
    asks for the partition again from the checkpoint, once; a hole in the offsets is then accepted."""
    store = MemoryStore()
    records = [r for r in history(2) if r.partition == 0]
    store.checkpoint[0] = Checkpoint(0, 1)
    projector = Projector(store, None)
    skipped = await projector.apply(records[4:6])
    assert skipped.rewind == {0: 2}
    assert skipped.progress == {}
    assert store.copy == {}
    again = await projector.apply(records[3:6])  # offset 2 is a hole now: taken as it comes
    assert again.rewind == {}
    assert store.checkpoint[0].last == 5
