"""Group commit: creates that arrive while a transaction is being written wait for it, then go to
MySQL together in the next one.

A create is a handful of small statements and a commit; on its own thread each one pays the round
trips, the statement overhead and a share of the contention of every request thread for the GIL.
Here one writer per process takes whatever has queued (up to `max_batch`), writes it as one
transaction of multi-row INSERTs in a worker thread, and answers every caller. Nothing waits for a
batch to fill: alone, a create is written at once; under load, batches grow by themselves, as the
requests that arrive during one commit make up the next.

Each sale still commits in the same transaction as its outbox row; a batch commits entirely or not at
all. A batch refused because of what one of its entries holds (`split_on`) is written again one entry
per transaction, so that only that caller gets the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from prometheus_client import Histogram

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZE = Histogram(
    "sales_writer_group_commit_size",
    "Creates written per transaction by the group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


class GroupCommit(Generic[T, R]):
    """`await submit(entry)` returns `write([... entry ...])`'s result for that entry, or raises what
    the write raised. `write` is synchronous (it runs in a worker thread) and returns one result per
    entry, in order. Use it from one event loop."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 64,
        split_on: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._write = write
        self.max_batch = max_batch
        self.split_on = split_on
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, entry: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                await self._write_batch(batch)
            except BaseException:  # cancelled (loop shutdown): the batch's callers are cancelled too
                for _, future in batch:
                    future.cancel()
                raise

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        BATCH_SIZE.observe(len(batch))
        entries = [entry for entry, _ in batch]
        try:
            results = await asyncio.to_thread(self._write, entries)
        except self.split_on as exc:
            if len(batch) == 1:
                _answer(batch[0][1], error=exc)
                return
            log.info("group commit refused; writing its %d entries one by one", len(batch), extra={"error": repr(exc)})
            for entry, future in batch:
                try:
                    (result,) = await asyncio.to_thread(self._write, [entry])
                except Exception as alone:  # noqa: BLE001 - it belongs to this caller
                    _answer(future, error=alone)
                else:
                    _answer(future, result=result)
            return
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets it
            for _, future in batch:
                _answer(future, error=exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _answer(future, result=result)


def _answer(future: asyncio.Future[R], *, result: R | None = None, error: BaseException | None = None) -> None:
    """Resolve a caller's future unless the caller has gone (its request was cancelled)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
