"""Rebuild the copy (sales and rollups) from offset 0 into fresh collections, then swap them in
while readers keep going.

The swap replaces the active copy in one step (see `Copies.swap_in`). What arrived meanwhile was
applied by the live consumers to the old copy only: on their first batch on the new one, each
partition's records begin past the new rollups' checkpoint, and the consumer reads the partition
again from there (see `Projector._gaps`), so the new copy gets every change, each counted once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from supply_projector.service_layer.ports import Record, Store
from supply_projector.service_layer.projector import Projector

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


class Replay(Protocol):
    """The sales topic read from its beginning by a consumer of its own."""

    async def partitions(self) -> list[int]:
        """Every partition, assigned to this reader and positioned at its beginning."""
        ...

    async def beginning_offsets(self) -> dict[int, int]: ...

    async def end_offsets(self) -> dict[int, int]: ...

    async def position(self, partition: int) -> int: ...

    async def fetch(self, partitions: Collection[int], max_records: int) -> list[Record]: ...

    async def commit(self) -> None: ...


class Copies(Protocol):
    """The collections that can hold the copy, and the alias readers and consumers follow."""

    def active(self) -> str: ...

    def store(self, collection: str) -> Store:
        """A store writing into `collection`, whatever the alias says."""
        ...

    def finish(self, collection: str) -> None:
        """Make `collection` ready to serve reads (its indexes; its rollups marked complete)."""
        ...

    def swap_in(self, collection: str) -> tuple[str, str]:
        """Make `collection` the active one; returns the name it is active under and how."""
        ...

    def drop(self, collection: str) -> None: ...

    def count(self, collection: str) -> int: ...


@dataclass
class RebuildResult:
    collection: str
    previous: str
    swapped_by: str
    events: int
    documents: int


async def _drain(
    replay: Replay,
    projector: Projector,
    ends: dict[int, int],
    batch_max_records: int,
    progress: ProgressCallback | None,
    total: int,
    done: int,
) -> int:
    remaining = {p for p, end in ends.items() if await replay.position(p) < end}
    while remaining:
        records = [r for r in await replay.fetch(remaining, batch_max_records) if r.offset < ends[r.partition]]
        if records:
            await projector.apply(records)
            done += len(records)
            if progress:
                progress(done, total)
        for partition in list(remaining):
            if await replay.position(partition) >= ends[partition]:
                remaining.discard(partition)
    return done


async def rebuild(
    replay: Replay,
    copies: Copies,
    target: str,
    *,
    grace_s: float,
    batch_max_records: int = 1000,
    progress: ProgressCallback | None = None,
) -> RebuildResult:
    """Replay everything into `target`, swap it in, wait `grace_s` (readers' caches of the alias
    expire) and drop the previous copy if it is no longer used."""
    previous = await asyncio.to_thread(copies.active)
    partitions = await replay.partitions()
    if not partitions:
        raise RuntimeError("the topic has no partitions")
    starts = await replay.beginning_offsets()
    ends = await replay.end_offsets()
    total = sum(ends[p] - starts[p] for p in partitions)
    if progress:
        progress(0, total)
    projector = Projector(copies.store(target), None, follow_checkpoints=False)
    done = await _drain(replay, projector, ends, batch_max_records, progress, total, 0)
    await asyncio.to_thread(copies.finish, target)

    active, swapped_by = await asyncio.to_thread(copies.swap_in, target)
    await asyncio.sleep(grace_s)
    await replay.commit()
    if previous != active:
        await asyncio.to_thread(copies.drop, previous)
    documents = await asyncio.to_thread(copies.count, active)
    log.info("rebuild swapped in", extra={"collection": active, "events": done, "documents": documents})
    return RebuildResult(active, previous, swapped_by, done, documents)
