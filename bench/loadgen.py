"""Load generators: closed loops (a fixed number of workers, for maximum rates) and an open loop (a fixed
offered rate; latency counts from each request's scheduled start, so time spent queueing is included)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stats import Latencies

AsyncOp = Callable[[int], Awaitable[Any]]


@dataclass
class LoopResult:
    completed: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies: Latencies = field(default_factory=Latencies)
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def note_error(self, exc: BaseException) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}"[:300]


async def closed_loop(op: AsyncOp, concurrency: int, duration_s: float, warmup_s: float = 0.0) -> LoopResult:
    """`concurrency` workers call `op` back to back; completions inside the window after the warm-up count."""
    result = LoopResult()
    counter = itertools.count()
    start = time.perf_counter()
    measure_from = start + warmup_s
    end = measure_from + duration_s

    async def worker() -> None:
        while (began := time.perf_counter()) < end:
            try:
                await op(next(counter))
            except Exception as exc:  # noqa: BLE001 - counted and reported as an error
                if measure_from <= time.perf_counter() <= end:
                    result.note_error(exc)
                continue
            done = time.perf_counter()
            if measure_from <= done <= end:
                result.completed += 1
                result.latencies.record_s(done - began)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed_s = duration_s
    return result


async def open_loop(
    op: AsyncOp, rate: float, duration_s: float, drain_timeout_s: float = 30.0, stop: asyncio.Event | None = None
) -> LoopResult:
    """Start one call every 1/rate seconds whatever the previous ones are doing, for `duration_s` or until
    `stop` is set."""
    result = LoopResult()
    total = max(1, round(rate * duration_s))
    interval = 1.0 / rate
    start = time.perf_counter() + 0.02
    pending: set[asyncio.Task[None]] = set()
    last_done = start

    async def one(index: int, scheduled: float) -> None:
        nonlocal last_done
        try:
            await op(index)
        except Exception as exc:  # noqa: BLE001 - counted and reported as an error
            result.note_error(exc)
            return
        done = time.perf_counter()
        last_done = max(last_done, done)
        result.completed += 1
        result.latencies.record_s(done - scheduled)

    index = 0
    while index < total and not (stop is not None and stop.is_set()):
        now = time.perf_counter()
        while index < total and start + index * interval <= now:
            task = asyncio.create_task(one(index, start + index * interval))
            pending.add(task)
            task.add_done_callback(pending.discard)
            index += 1
        if index < total:
            await asyncio.sleep(max(0.0, start + index * interval - time.perf_counter()))
    if pending:
        _, late = await asyncio.wait(set(pending), timeout=drain_timeout_s)
        for task in late:
            task.cancel()
            result.errors += 1
    result.elapsed_s = max(index * interval, last_done - start)
    return result


def threaded_closed_loop(
    setup: Callable[[], Any],
    op: Callable[[Any, int], None],
    teardown: Callable[[Any], None],
    concurrency: int,
    duration_s: float,
    warmup_s: float = 0.0,
) -> LoopResult:
    """Closed loop on threads for blocking drivers; each thread gets its own state from `setup`."""
    result = LoopResult()
    lock = threading.Lock()
    counter = itertools.count()
    states = [setup() for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)
    window: dict[str, float] = {}

    def worker(state: Any) -> None:
        local = Latencies()
        completed = errors = 0
        first_error = ""
        barrier.wait()
        measure_from, end = window["from"], window["end"]
        while (began := time.perf_counter()) < end:
            try:
                op(state, next(counter))
            except Exception as exc:  # noqa: BLE001 - counted and reported as an error
                if measure_from <= time.perf_counter() <= end:
                    errors += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            done = time.perf_counter()
            if measure_from <= done <= end:
                completed += 1
                local.record_s(done - began)
        with lock:
            result.completed += completed
            result.errors += errors
            result.first_error = result.first_error or first_error
            result.latencies.histogram.add(local.histogram)

    threads = [threading.Thread(target=worker, args=(state,), daemon=True) for state in states]
    for thread in threads:
        thread.start()
    window["from"] = time.perf_counter() + warmup_s
    window["end"] = window["from"] + duration_s
    barrier.wait()
    for thread in threads:
        thread.join()
    for state in states:
        teardown(state)
    result.elapsed_s = duration_s
    return result
