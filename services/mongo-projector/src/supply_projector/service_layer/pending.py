"""Adding the bucket deltas that checkpoints hold, by anyone but the consumer summing into them.

A consumer may sum several batches' deltas into its checkpoint's `pending` before it adds them
(`Checkpoint`). Anyone else who adds them (a take-over, the first batch of a partition, a check)
seals the checkpoints first, so that a sum added here, perhaps in part, never grows afterwards.
Adding is idempotent: each bucket's watermark says which deltas it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from supply_projector.service_layer.ports import Checkpoint


class Finishing(Protocol):
    def seal(self, checkpoints: Sequence[Checkpoint]) -> None: ...

    def add_to_buckets(self, checkpoints: Sequence[Checkpoint]) -> None: ...


def seal_and_add(rollups: Finishing, checkpoints: Iterable[Checkpoint]) -> int:
    """Seal those of the checkpoints that hold deltas, then add them; how many held some. Raises
    `CheckpointMoved` (nothing added) if a partition recorded another batch meanwhile."""
    unfinished = [c for c in checkpoints if c.pending]
    rollups.seal([c for c in unfinished if not c.sealed])
    if unfinished:
        rollups.add_to_buckets(unfinished)
    return len(unfinished)
