"""Where the copy stands per partition (what /freshness shows), recorded beside the batches, not in them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from supply_projector.service_layer.ports import Progress, Store

log = logging.getLogger(__name__)


class ProgressRecorder:
    """Records each partition's last applied offset and commit time after its batch is written,
    without making the next batch wait: one write at a time, at most one per `interval_s`, each
    holding the newest position of every partition applied since the previous one. Under load many
    batches share a write; a failed write is retried with the next one."""

    def __init__(self, store: Store, interval_s: float = 0.1, retry_after_s: float = 1.0) -> None:
        self.store = store
        self.interval_s = interval_s
        self.retry_after_s = retry_after_s
        self._pending: dict[tuple[str, int], Progress] = {}
        self._writer: asyncio.Task[None] | None = None
        self._written_at = float("-inf")

    def add(self, progress: Iterable[Progress]) -> None:
        """Positions of a batch that is written (so never ahead of the copy)."""
        for item in progress:
            key = (item.topic, item.partition)
            held = self._pending.get(key)
            if held is None or item.offset >= held.offset:
                self._pending[key] = item.after(held)
        if self._pending and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write_pending())

    async def close(self, timeout_s: float = 5.0) -> None:
        """Let the pending write finish (at stop), waiting at most `timeout_s`."""
        writer, self._writer = self._writer, None
        if writer is None or writer.done():
            return
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(writer)
        except TimeoutError:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write_pending(self) -> None:
        while self._pending:
            await asyncio.sleep(max(0.0, self._written_at + self.interval_s - time.monotonic()))
            try:
                await self._write_once()
            except Exception as exc:  # noqa: BLE001 - the store is away: the batches retry too; so do we
                log.warning("recording progress failed; will retry", extra={"error": repr(exc)[:300]})
                await asyncio.sleep(self.retry_after_s)

    async def _write_once(self) -> None:
        taken, self._pending = self._pending, {}
        try:
            await asyncio.to_thread(self.store.record_progress, list(taken.values()))
        except BaseException:
            self._add_back(taken)
            raise
        self._written_at = time.monotonic()

    def _add_back(self, taken: dict[tuple[str, int], Progress]) -> None:
        for key, item in taken.items():
            held = self._pending.get(key)
            if held is None or item.offset > held.offset:
                self._pending[key] = item.after(held)
            else:
                self._pending[key] = held.after(item)
