"""One change of one sale as the projector sees it, and the version rules that decide its fate.

The rules, with no I/O:
- a change writes a document only if its version is newer than the copy's (a repair: not older);
- a delete leaves a tombstone (sale id, version); no change at or below a tombstone applies;
- within a batch only the newest change per sale matters (versions are monotonic per sale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True)
class Change:
    sale_id: str
    version: int
    document: dict[str, Any] | None
    """The whole stored document (dataset fields plus metadata), or None for a delete."""
    repair: bool = False
    occurred_at: datetime | None = None
    partition: int = 0
    offset: int = 0

    @property
    def deleted(self) -> bool:
        return self.document is None


@dataclass(frozen=True)
class Write:
    """Store `change.document`; `inclusive` lets a repair overwrite an equal version."""

    change: Change
    exists: bool
    inclusive: bool = False


@dataclass(frozen=True)
class Delete:
    """Record the tombstone, and remove the document if it is older than the delete."""

    change: Change
    remove_document: bool


Op = Write | Delete


@dataclass
class Plan:
    ops: list[Op] = field(default_factory=list)
    stale: int = 0


def newer(candidate: Change, current: Change) -> bool:
    """Which of two changes of one sale wins in a batch: the higher version; at an equal version a
    repair, else the later record."""
    if candidate.version != current.version:
        return candidate.version > current.version
    if candidate.repair != current.repair:
        return candidate.repair
    return (candidate.partition, candidate.offset) >= (current.partition, current.offset)


def collapse(changes: Iterable[Change]) -> tuple[list[Change], int]:
    """The newest change per sale, in first-seen order, and how many were superseded."""
    newest: dict[str, Change] = {}
    total = 0
    for change in changes:
        total += 1
        held = newest.get(change.sale_id)
        if held is None or newer(change, held):
            newest[change.sale_id] = change
    return list(newest.values()), total - len(newest)


Verdict = Literal["write", "delete", "stale"]


def verdict(change: Change, document_version: int | None, tombstone_version: int | None) -> Verdict:
    """What one change does to a copy holding `document_version` (None: absent) and a tombstone.

    A delete whose document is still there and older is carried out even when its tombstone is
    already written: the tombstone goes first, so a store failing between the two leaves exactly
    that state, and the retried batch must finish the removal."""
    if change.deleted and document_version is not None and document_version < change.version:
        return "delete"
    if tombstone_version is not None and change.version <= tombstone_version:
        return "stale"
    if change.deleted:
        return "delete"
    if document_version is None or document_version < change.version:
        return "write"
    if change.repair and document_version == change.version:
        return "write"
    return "stale"


def plan(
    changes: Iterable[Change],
    document_versions: Mapping[str, int] | None,
    tombstones: Mapping[str, int],
) -> Plan:
    """Collapse a batch and decide each sale's write from what the copy holds now (None: not read;
    then every write is tried as an insert first). The store still guards every write by version,
    so a plan made from a stale or missing read never rolls a document back."""
    newest, superseded = collapse(changes)
    result = Plan(stale=superseded)
    for change in newest:
        current = document_versions.get(change.sale_id) if document_versions is not None else None
        outcome = verdict(change, current, tombstones.get(change.sale_id))
        if outcome == "stale" and change.deleted and document_versions is None:
            outcome = "delete"  # the copy was not read: the removal may still be owed (version-guarded)
        if outcome == "stale":
            result.stale += 1
        elif outcome == "delete":
            remove = document_versions is None or (current is not None and current < change.version)
            result.ops.append(Delete(change, remove_document=remove))
        else:
            result.ops.append(Write(change, exists=current is not None, inclusive=change.repair))
    return result
