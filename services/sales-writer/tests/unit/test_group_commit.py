"""The group commit's queueing and error rules, with plain functions as the write."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from supply_sales_writer.service_layer.group_commit import GroupCommit


class Refused(Exception):
    pass


class Recorder:
    """A write that doubles its entries and remembers each batch; `hold` keeps the first batch in
    flight until released, `refuse` fails any batch holding that entry."""

    def __init__(self, *, hold: bool = False, refuse: int | None = None, fail_all: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.hold = hold
        self.refuse = refuse
        self.fail_all = fail_all

    def __call__(self, entries: Sequence[int]) -> list[int]:
        self.batches.append(list(entries))
        self.started.set()
        if self.hold and len(self.batches) == 1:
            assert self.release.wait(5)
        if self.fail_all is not None:
            raise self.fail_all
        if self.refuse in entries:
            raise Refused(f"entry {self.refuse}")
        return [entry * 2 for entry in entries]


async def _started(recorder: Recorder) -> None:
    await asyncio.to_thread(recorder.started.wait, 5)


async def test_a_lone_entry_is_written_at_once() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    assert await asyncio.wait_for(group.submit(21), 5) == 42
    assert recorder.batches == [[21]]


async def test_entries_that_queue_during_a_write_go_together_in_the_next() -> None:
    recorder = Recorder(hold=True)
    group = GroupCommit(recorder)
    first = asyncio.create_task(group.submit(0))
    await _started(recorder)
    rest = [asyncio.create_task(group.submit(n)) for n in range(1, 11)]
    await asyncio.sleep(0.05)
    recorder.release.set()
    assert await asyncio.gather(first, *rest) == [n * 2 for n in range(11)]
    assert recorder.batches == [[0], list(range(1, 11))]


async def test_batches_are_cut_at_max_batch() -> None:
    recorder = Recorder(hold=True)
    group = GroupCommit(recorder, max_batch=4)
    first = asyncio.create_task(group.submit(0))
    await _started(recorder)
    rest = [asyncio.create_task(group.submit(n)) for n in range(1, 11)]
    await asyncio.sleep(0.05)
    recorder.release.set()
    await asyncio.gather(first, *rest)
    assert recorder.batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


async def test_a_refused_batch_is_written_again_one_by_one_and_only_its_culprit_fails() -> None:
    recorder = Recorder(hold=True, refuse=3)
    group = GroupCommit(recorder, split_on=(Refused,))
    first = asyncio.create_task(group.submit(0))
    await _started(recorder)
    rest = [asyncio.create_task(group.submit(n)) for n in range(1, 6)]
    await asyncio.sleep(0.05)
    recorder.release.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[:3] == [0, 2, 4]
    assert results[4:] == [8, 10]
    assert isinstance(results[3], Refused)
    assert recorder.batches == [[0], [1, 2, 3, 4, 5], [1], [2], [3], [4], [5]]


async def test_any_other_failure_goes_to_every_caller_of_the_batch_and_the_next_batch_goes_on() -> None:
    recorder = Recorder(fail_all=ConnectionError("database down"))
    group = GroupCommit(recorder, split_on=(Refused,))
    results = await asyncio.gather(*(group.submit(n) for n in range(5)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert len(recorder.batches) < 5  # not retried one by one
    recorder.fail_all = None
    assert await asyncio.wait_for(group.submit(7), 5) == 14


async def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    recorder = Recorder(hold=True)
    group = GroupCommit(recorder)
    first = asyncio.create_task(group.submit(0))
    await _started(recorder)
    leaving = asyncio.create_task(group.submit(1))
    staying = asyncio.create_task(group.submit(2))
    await asyncio.sleep(0.05)
    leaving.cancel()
    recorder.release.set()
    assert await first == 0
    assert await staying == 4
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert recorder.batches == [[0], [1, 2]]  # written all the same: its request was already accepted
