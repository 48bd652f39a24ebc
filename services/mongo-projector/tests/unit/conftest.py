"""Unit-test support: an in-memory store that honours the same version guards and rollup
compare-and-sets as MongoDB."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from supply_projector.domain.changes import Delete, Op, Write
from supply_projector.domain.rollups import Buckets
from supply_projector.domain.rollups import add as add_buckets
from supply_projector.service_layer.ports import (
    Checkpoint,
    CheckpointMoved,
    Executed,
    Parked,
    Progress,
    Record,
    Unstorable,
)


@pytest.fixture(autouse=True)
def _no_account_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """No broker here: the read APIs of these tests follow no revocations (tests/integration does)."""
    monkeypatch.setenv("REVOCATIONS_ENABLED", "false")


@dataclass
class MemoryStore:
    copy: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The sales documents by id."""
    tombstone: dict[str, int] = field(default_factory=dict)
    quarantine: dict[str, str] = field(default_factory=dict)
    parked: list[Parked] = field(default_factory=list)
    progress: dict[tuple[str, int], Progress] = field(default_factory=dict)
    reads_versions: bool = True
    unencodable: set[str] = field(default_factory=set)
    """Sale ids whose writes the store refuses as not encodable, as MongoStore does."""
    checkpoint: dict[int, Checkpoint] = field(default_factory=dict)
    buckets: Buckets = field(default_factory=dict)
    watermarks: dict[tuple[str, int], int] = field(default_factory=dict)

    def pinned(self) -> MemoryStore:
        return self

    def collection(self) -> str:
        return "sales"

    def documents(self, sale_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self.copy[i] for i in sale_ids if i in self.copy}

    def checkpoints(self, partitions: Sequence[int]) -> dict[int, Checkpoint]:
        return {p: self.checkpoint[p] for p in partitions if p in self.checkpoint}

    def record_checkpoints(
        self, checkpoints: Sequence[Checkpoint], expected: Mapping[int, int | None], extending: Collection[int] = ()
    ) -> None:
        for checkpoint in checkpoints:
            held = self.checkpoint.get(checkpoint.partition)
            if (held.last if held is not None else None) != expected.get(checkpoint.partition):
                raise CheckpointMoved(str(checkpoint.partition))
            if held is not None and held.sealed and checkpoint.partition in extending:
                raise CheckpointMoved(f"{checkpoint.partition} is sealed")
        for checkpoint in checkpoints:
            self.checkpoint[checkpoint.partition] = checkpoint

    def seal(self, checkpoints: Sequence[Checkpoint]) -> None:
        for checkpoint in checkpoints:
            held = self.checkpoint.get(checkpoint.partition)
            if held is None or held.last != checkpoint.last:
                raise CheckpointMoved(str(checkpoint.partition))
        for checkpoint in checkpoints:
            self.checkpoint[checkpoint.partition] = replace(self.checkpoint[checkpoint.partition], sealed=True)

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None:
        for checkpoint in checkpoints:
            for bucket, values in (checkpoint.pending or {}).items():
                mark = (bucket, checkpoint.partition)
                if self.watermarks.get(mark, -1) < checkpoint.last:
                    add_buckets(self.buckets, {bucket: values})
                    self.watermarks[mark] = checkpoint.last

    def _version(self, sale_id: str) -> int | None:
        doc = self.copy.get(sale_id)
        return None if doc is None else int(doc["_supply"]["version"])

    def versions(self, sale_ids: Sequence[str]) -> dict[str, int] | None:
        if not self.reads_versions:
            return None
        return {i: v for i in sale_ids if (v := self._version(i)) is not None}

    def tombstones(self, sale_ids: Sequence[str]) -> dict[str, int]:
        return {i: self.tombstone[i] for i in sale_ids if i in self.tombstone}

    def execute(self, ops: Sequence[Op]) -> Executed:
        refused = {op.change.sale_id: "OverflowError: too big" for op in ops if op.change.sale_id in self.unencodable}
        if refused:
            raise Unstorable(refused)
        written = stale = deleted = 0
        for op in ops:
            change = op.change
            held = self._version(change.sale_id)
            if isinstance(op, Write):
                matches = held is None or held < change.version or (op.inclusive and held == change.version)
                if matches:
                    assert change.document is not None
                    self.copy[change.sale_id] = change.document
                    written += 1
                else:
                    stale += 1
            elif isinstance(op, Delete):
                self.tombstone[change.sale_id] = max(self.tombstone.get(change.sale_id, 0), change.version)
                if held is not None and held < change.version:
                    del self.copy[change.sale_id]
                deleted += 1
        return Executed(written=written, deleted=deleted, stale=stale)

    def quarantined(self, sale_ids: Iterable[str]) -> set[str]:
        return {i for i in sale_ids if i in self.quarantine}

    def update_quarantine(self, added: dict[str, str], lifted: set[str]) -> None:
        self.quarantine.update(added)
        for sale_id in lifted:
            self.quarantine.pop(sale_id, None)
        self.parked = [p for p in self.parked if p.sale_id not in lifted]

    def park(self, parked: Sequence[Parked]) -> None:
        self.parked.extend(parked)

    def record_progress(self, progress: Sequence[Progress]) -> None:
        for item in progress:
            key = (item.topic, item.partition)
            held = self.progress.get(key)
            if held is not None and held.offset > item.offset:
                item = held.after(item)
            self.progress[key] = item.after(held)


@dataclass
class ListDeadLetters:
    sent: list[tuple[Record, Exception]] = field(default_factory=list)

    async def send(self, failures: Sequence[tuple[Record, Exception]]) -> None:
        self.sent.extend(failures)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def dead_letters() -> ListDeadLetters:
    return ListDeadLetters()
