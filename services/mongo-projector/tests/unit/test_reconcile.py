from __future__ import annotations

from collections.abc import Iterator, Sequence

from supply_projector.service_layer.reconcile import (
    INVALID,
    Entry,
    Repaired,
    await_applied,
    classify,
    reconcile,
    repair,
    repair_sale,
    truth_of,
)


def sid(number: int) -> str:
    return f"{number:024x}"


class FakeTruth:
    def __init__(self, entries: list[Entry]) -> None:
        self.rows = {entry.id: entry for entry in entries}
        self.republished: list[str] = []

    def digest(self, after: str | None, limit: int) -> list[Entry]:
        ids = sorted(i for i in self.rows if after is None or i > after)
        return [self.rows[i] for i in ids[:limit]]

    def republish(self, ids: Sequence[str]) -> int:
        self.republished += ids
        return len(ids)


class FakeCopy:
    def __init__(
        self, entries: list[Entry], odd: list[str] | None = None, tombstones: dict[str, int] | None = None
    ) -> None:
        self.rows = {entry.id: entry for entry in entries}
        self.odd = odd or []
        self.tombstones = tombstones or {}
        self.rewound: list[tuple[str, int]] = []

    def deleted_version(self, sale_id: str) -> int | None:
        return self.tombstones.get(sale_id)

    def rewind(self, sale_id: str, version: int) -> None:
        self.rewound.append((sale_id, version))
        held = self.rows.get(sale_id)
        if held is not None and held.version > version:
            self.rows[sale_id] = Entry(sale_id, version, held.hash)
        if self.tombstones.get(sale_id, 0) >= version:
            self.tombstones.pop(sale_id, None)

    def estimated_count(self) -> int:
        return len(self.rows)

    def entries(self, after: str | None = None) -> Iterator[Entry]:
        for sale_id in sorted(self.rows):
            if after is None or sale_id > after:
                yield self.rows[sale_id]

    def odd_ids(self) -> list[str]:
        return list(self.odd)

    def get(self, sale_id: str) -> Entry | None:
        return self.rows.get(sale_id)

    def delete(self, ids: Sequence[str]) -> int:
        deleted = [i for i in ids if self.rows.pop(i, None) is not None or i in self.odd]
        self.odd = [i for i in self.odd if i not in ids]
        return len(deleted)


def test_equal_sides_report_nothing() -> None:
    entries = [Entry(sid(n), n % 3 + 1, f"h{n}") for n in range(1, 2500)]
    findings = reconcile(FakeTruth(entries), FakeCopy(entries), page_size=100)
    assert findings.total == 0
    assert (findings.sales, findings.documents) == (2499, 2499)


def test_every_kind_of_drift_is_found_with_its_id() -> None:
    truth = [Entry(sid(n), 2, f"h{n}") for n in range(1, 301)]
    copy = {entry.id: entry for entry in truth}
    del copy[sid(5)]
    copy[sid(50)] = Entry(sid(50), 1, "old")
    copy[sid(100)] = Entry(sid(100), 2, "other")
    copy[sid(150)] = Entry(sid(150), 2, INVALID)
    copy[sid(999)] = Entry(sid(999), 7, "h999")
    findings = reconcile(FakeTruth(truth), FakeCopy(list(copy.values()), odd=["not-an-id"]), page_size=64)
    assert findings.missing == [sid(5)]
    assert findings.stale == [sid(50)]
    assert findings.corrupted == [sid(100), sid(150)]
    assert findings.stray == ["not-an-id", sid(999)]
    assert findings.counts() == {"missing": 1, "stale": 1, "corrupted": 2, "ahead": 0, "stray": 2}


def test_repair_republishes_the_sales_and_deletes_strays() -> None:
    truth = FakeTruth([Entry(sid(n), 1, "h") for n in (1, 2, 3)])
    copy = FakeCopy([Entry(sid(2), 1, "x"), Entry(sid(3), 1, "h"), Entry(sid(4), 1, "h")], odd=["junk"])
    findings = reconcile(truth, copy)
    done = repair(truth, copy, findings)
    assert truth.republished == [sid(1), sid(2)]
    assert (done.republished, done.strays_deleted) == (2, 2)
    assert sid(4) not in copy.rows
    assert copy.odd == []


def test_a_change_landing_during_the_walk_is_not_reported() -> None:
    class MovingTruth(FakeTruth):
        def digest(self, after: str | None, limit: int) -> list[Entry]:
            page = super().digest(after, limit)
            if limit > 1:
                self.rows[sid(7)] = Entry(sid(7), 1, "h")
            return page

    copy = FakeCopy([Entry(sid(1), 1, "h"), Entry(sid(7), 1, "h")])
    findings = reconcile(MovingTruth([Entry(sid(1), 1, "h")]), copy)
    assert findings.total == 0


def test_a_copy_ahead_of_mysql_is_its_own_kind_of_drift() -> None:
    """After MySQL is restored from a backup the copy holds versions MySQL has not reached (again):
    the projector's version guard refuses MySQL's re-emission, so this never converged by itself."""
    assert classify(Entry(sid(1), 2, "h"), Entry(sid(1), 3, "h")) == "ahead"
    assert classify(Entry(sid(1), 2, "h"), Entry(sid(1), 3, INVALID)) == "ahead"
    assert classify(Entry(sid(1), 2, "h"), None, deleted_version=2) == "ahead"
    assert classify(Entry(sid(1), 2, "h"), None, deleted_version=1) == "missing"
    assert classify(None, None) is None


def test_repair_rewinds_ahead_sales_to_mysql_before_republishing_them() -> None:
    truth = FakeTruth([Entry(sid(n), 2, f"h{n}") for n in (1, 2, 3)])
    copy = FakeCopy([Entry(sid(1), 5, "future"), Entry(sid(3), 2, "h3")], tombstones={sid(2): 4})
    findings = reconcile(truth, copy)
    assert findings.ahead == [sid(1), sid(2)]
    assert findings.counts() == {"missing": 0, "stale": 0, "corrupted": 0, "ahead": 2, "stray": 0}

    class Ordered(FakeTruth):
        def republish(self, ids: Sequence[str]) -> int:
            assert copy.rewound == [(sid(1), 2), (sid(2), 2)], "rewound before the re-emission"
            return super().republish(ids)

    ordered = Ordered(list(truth.rows.values()))
    done = repair(ordered, copy, findings)
    assert (done.republished, done.rewound, done.strays_deleted) == (2, 2, 0)
    assert ordered.republished == [sid(1), sid(2)]
    assert copy.rows[sid(1)].version == 2
    assert sid(2) not in copy.tombstones


def test_truth_of_finds_exactly_one_id() -> None:
    truth = FakeTruth([Entry(sid(0), 1, "a"), Entry(sid(9), 1, "b")])
    assert truth_of(truth, sid(0)) == Entry(sid(0), 1, "a")
    assert truth_of(truth, sid(9)) == Entry(sid(9), 1, "b")
    assert truth_of(truth, sid(5)) is None


def test_one_sale_is_repaired_as_the_whole_reconcile_would_and_left_alone_when_equal() -> None:
    same, stale, ahead, stray = sid(1), sid(2), sid(3), sid(4)
    truth = FakeTruth([Entry(same, 2, "h"), Entry(stale, 3, "h3"), Entry(ahead, 1, "h1")])
    copy = FakeCopy([Entry(same, 2, "h"), Entry(stale, 2, "h2"), Entry(ahead, 4, "h4"), Entry(stray, 1, "h")])

    assert repair_sale(truth, copy, same) == (None, Repaired(republished=0, strays_deleted=0))
    assert truth.republished == []
    assert repair_sale(truth, copy, stale) == ("stale", Repaired(republished=1, strays_deleted=0))
    assert repair_sale(truth, copy, ahead) == ("ahead", Repaired(republished=1, strays_deleted=0, rewound=1))
    assert copy.rewound == [(ahead, 1)]
    assert truth.republished == [stale, ahead]
    assert repair_sale(truth, copy, stray) == ("stray", Repaired(republished=0, strays_deleted=1))
    assert copy.get(stray) is None
    assert repair_sale(truth, copy, same, quarantined=True) == ("quarantined", Repaired(1, 0))
    assert truth.republished == [stale, ahead, same]
    assert repair_sale(truth, copy, stray, quarantined=True) == (None, Repaired(0, 0))


def test_repair_waits_until_the_copy_holds_what_was_republished() -> None:
    """The rollups are checked against the copy only once the repair events are applied: a copy
    edited by hand moved them too, and the repair event moves them from the edited document."""
    truth = FakeTruth([Entry(sid(1), 2, "h"), Entry(sid(2), 1, "h")])
    copy = FakeCopy([Entry(sid(1), 2, "edited")])
    applied_per_poll = [Entry(sid(1), 2, "h"), Entry(sid(2), 1, "h")]
    agreed: list[int] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the consumer applies one republished sale per poll
        slept.append(seconds)
        entry = applied_per_poll.pop(0)
        copy.rows[entry.id] = entry

    left = await_applied(
        truth, copy, [sid(2), sid(1)], timeout_s=10, poll_s=0.5, progress=agreed.append, clock=lambda: 0.0, sleep=sleep
    )
    assert left == []
    assert slept == [0.5, 0.5]
    assert sum(agreed) == 2


def test_waiting_for_a_repair_gives_up_after_the_timeout_with_the_ids_left() -> None:
    truth = FakeTruth([Entry(sid(1), 1, "h"), Entry(sid(3), 1, "h")])
    copy = FakeCopy([Entry(sid(3), 1, "h"), Entry(sid(9), 1, "h")])
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    left = await_applied(
        truth, copy, [sid(1), sid(3), sid(9)], timeout_s=2, poll_s=1, clock=lambda: now[0], sleep=sleep
    )
    assert left == [sid(1), sid(9)]  # still missing, and a stray the copy still holds
    assert now[0] == 2


def test_a_sale_deleted_in_mysql_meanwhile_counts_as_applied_once_the_copy_drops_it_too() -> None:
    truth = FakeTruth([])
    copy = FakeCopy([])
    assert await_applied(truth, copy, [sid(4)], timeout_s=0, sleep=lambda _: None) == []
