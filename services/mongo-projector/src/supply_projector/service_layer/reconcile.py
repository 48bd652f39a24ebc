"""Drift control: the sales-writer's digest (MySQL) against the copy, walked together in id order.

A sale is missing (in MySQL, not in the copy), stale (the copy holds an older version), corrupted
(the copy's content does not hash to what MySQL holds at the same version, or to its own stored
hash), ahead (the copy holds a newer version than MySQL, or a delete at or after MySQL's version:
MySQL was restored from a backup, since versions otherwise never go back) or stray (in the copy,
not in MySQL). Repair asks the sales-writer to re-emit the current state of the first four through
its outbox (the projector applies repair events over an equal version) and deletes strays from the
copy. An ahead sale's version guard would refuse that re-emission (it carries MySQL's lower
version), so repair first rewinds the copy's version of the sale to MySQL's and drops a tombstone
at or above it; the content is left as it is until the repair event replaces it. Every finding is
checked once more before it is reported, so changes that land during the walk are not taken for
drift.

The analytics rollups count what the projector applied, so drift made outside it (a document
edited, deleted or planted in the copy by hand) leaves them off too, and a repair event moves them
from the drifted document, not from the one they counted. Repair therefore waits until the copy
holds what was republished (`await_applied`) before the rollups are checked against the copy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

INVALID: Final = "invalid"
"""The hash of a copy document whose content does not validate or does not match its stored hash."""

KINDS: Final = ("missing", "stale", "corrupted", "ahead", "stray")
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True)
class Entry:
    id: str
    version: int
    hash: str


class Truth(Protocol):
    def digest(self, after: str | None, limit: int) -> list[Entry]: ...

    def republish(self, ids: Sequence[str]) -> int: ...


class Copy(Protocol):
    def estimated_count(self) -> int: ...

    def entries(self, after: str | None = None) -> Iterator[Entry]: ...

    def odd_ids(self) -> list[str]: ...

    def get(self, sale_id: str) -> Entry | None: ...

    def delete(self, ids: Sequence[str]) -> int: ...

    def deleted_version(self, sale_id: str) -> int | None:
        """The version of the sale's delete, while the copy keeps its tombstone."""
        ...

    def rewind(self, sale_id: str, version: int) -> None:
        """Lower the sale's version to `version` where it is above, and drop a tombstone at or above
        it, so that a repair event at `version` applies."""
        ...


@dataclass
class Findings:
    sales: int = 0
    documents: int = 0
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    ahead: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    mysql_versions: dict[str, int] = field(default_factory=dict)
    """MySQL's version of each ahead sale, what repair rewinds the copy to."""

    @property
    def total(self) -> int:
        return sum(len(getattr(self, kind)) for kind in KINDS)

    def counts(self) -> dict[str, int]:
        return {kind: len(getattr(self, kind)) for kind in KINDS}

    def to_republish(self) -> list[str]:
        return sorted({*self.missing, *self.stale, *self.corrupted, *self.ahead})

    def add(self, kind: str, sale_id: str, truth: Entry | None) -> None:
        getattr(self, kind).append(sale_id)
        if kind == "ahead" and truth is not None:
            self.mysql_versions[sale_id] = truth.version


@dataclass(frozen=True)
class Repaired:
    republished: int
    strays_deleted: int
    rewound: int = 0


def classify(truth: Entry | None, copy: Entry | None, deleted_version: int | None = None) -> str | None:
    """The kind of difference between MySQL's entry and the copy's for one id, or None if equal.
    `deleted_version` is the copy's tombstone, if known: one at or above MySQL's version of a sale
    the copy does not hold would refuse its re-emission."""
    if truth is None:
        return "stray" if copy is not None else None
    if copy is None:
        return "ahead" if deleted_version is not None and deleted_version >= truth.version else "missing"
    if copy.version < truth.version:
        return "stale"
    if copy.version > truth.version:
        return "ahead"
    if copy.hash != truth.hash:
        return "corrupted"
    return None


def truth_entries(truth: Truth, page_size: int = 1000) -> Iterator[Entry]:
    after: str | None = None
    while True:
        page = truth.digest(after, page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page[-1].id


def truth_of(truth: Truth, sale_id: str) -> Entry | None:
    """One id's digest entry: the first entry after the id just below it."""
    number = int(sale_id, 16)
    page = truth.digest(f"{number - 1:024x}" if number else None, 1)
    return page[0] if page and page[0].id == sale_id else None


def walk(truth: Truth, copy: Copy, *, page_size: int = 1000, progress: Callable[[int], None] | None = None) -> Findings:
    """One merge-join pass over both sides; `progress` is called with the number of ids just passed."""
    findings = Findings()
    findings.stray.extend(copy.odd_ids())
    findings.documents += len(findings.stray)
    left, right = truth_entries(truth, page_size), copy.entries()
    mine, theirs = next(left, None), next(right, None)
    while mine is not None or theirs is not None:
        if theirs is not None and not _OBJECT_ID.match(theirs.id):
            theirs = next(right, None)
            continue
        if theirs is None or (mine is not None and mine.id < theirs.id):
            assert mine is not None
            pair: tuple[Entry | None, Entry | None] = (mine, None)
            mine = next(left, None)
        elif mine is None or theirs.id < mine.id:
            pair = (None, theirs)
            theirs = next(right, None)
        else:
            pair = (mine, theirs)
            mine, theirs = next(left, None), next(right, None)
        findings.sales += pair[0] is not None
        findings.documents += pair[1] is not None
        kind = classify(*pair)
        if kind is not None:
            findings.add(kind, (pair[0] or pair[1]).id, pair[0])  # type: ignore[union-attr]
        if progress is not None:
            progress(1)
    return findings


def confirm(truth: Truth, copy: Copy, findings: Findings) -> Findings:
    """Look again at each finding alone; keep it only if the difference is still there."""
    confirmed = Findings(sales=findings.sales, documents=findings.documents)
    for kind in KINDS:
        for sale_id in getattr(findings, kind):
            if not _OBJECT_ID.match(sale_id):
                confirmed.stray.append(sale_id)
                continue
            mysql, held = truth_of(truth, sale_id), copy.get(sale_id)
            deleted = copy.deleted_version(sale_id) if mysql is not None and held is None else None
            now = classify(mysql, held, deleted)
            if now is not None:
                confirmed.add(now, sale_id, mysql)
    confirmed.ahead.sort()  # a missing sale found to be ahead (by its tombstone) joins the walk's
    return confirmed


def reconcile(
    truth: Truth, copy: Copy, *, page_size: int = 1000, progress: Callable[[int], None] | None = None
) -> Findings:
    return confirm(truth, copy, walk(truth, copy, page_size=page_size, progress=progress))


def repair(truth: Truth, copy: Copy, findings: Findings, chunk: int = 1000) -> Repaired:
    """Rewind ahead sales to MySQL's version, then republish what MySQL holds for missing, stale,
    corrupted and ahead sales; delete strays. The rewind comes first: a re-emission is the state
    MySQL has when it is emitted, so whatever the copy applies between the two is overwritten."""
    rewound = [sale_id for sale_id in findings.ahead if sale_id in findings.mysql_versions]
    for sale_id in rewound:
        copy.rewind(sale_id, findings.mysql_versions[sale_id])
    ids = findings.to_republish()
    republished = sum(truth.republish(ids[start : start + chunk]) for start in range(0, len(ids), chunk))
    return Repaired(republished=republished, strays_deleted=copy.delete(findings.stray), rewound=len(rewound))


def await_applied(
    truth: Truth,
    copy: Copy,
    ids: Sequence[str],
    *,
    timeout_s: float,
    poll_s: float = 0.5,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Wait until the copy holds what MySQL holds for each of these ids (a republished sale is
    applied, or a later change of it is); returns those still differing after `timeout_s`.
    `progress` is called with the number of ids that have just come to agree."""
    waiting = sorted(set(ids))
    deadline = clock() + timeout_s
    while waiting:
        still = confirm(truth, copy, Findings(missing=waiting))
        differing = sorted({*still.to_republish(), *still.stray})
        if progress is not None and len(differing) < len(waiting):
            progress(len(waiting) - len(differing))
        waiting = differing
        if not waiting or clock() >= deadline:
            break
        sleep(poll_s)
    return waiting


def repair_sale(truth: Truth, copy: Copy, sale_id: str, *, quarantined: bool = False) -> tuple[str | None, Repaired]:
    """`reconcile` and `repair` for one id: its difference from MySQL, and what repairing it did.
    A copy that holds what MySQL holds needs nothing (None), unless the sale is `quarantined` (a dead
    letter of it parks its later events): then MySQL's state is republished all the same, since only
    a repair event lifts a quarantine."""
    findings = confirm(truth, copy, Findings(missing=[sale_id]))
    kind = next((kind for kind in KINDS if getattr(findings, kind)), None)
    if kind is None and quarantined and truth_of(truth, sale_id) is not None:
        return "quarantined", Repaired(republished=truth.republish([sale_id]), strays_deleted=0)
    if kind is None:
        return None, Repaired(republished=0, strays_deleted=0)
    return kind, repair(truth, copy, findings)
