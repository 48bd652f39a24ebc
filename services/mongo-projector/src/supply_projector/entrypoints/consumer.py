"""The consumer loop: batches from `sales.events`, applied, then committed; SIGTERM finishes cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pymongo.errors import PyMongoError

from supply_common import tracing
from supply_common.kafka import ensure_topics, sales_topics
from supply_projector import metrics
from supply_projector.adapters.kafka import KafkaDeadLetters, KafkaOffsets, make_consumer, to_record
from supply_projector.bootstrap import Container
from supply_projector.service_layer.ports import CheckpointMoved, Record
from supply_projector.service_layer.progress import ProgressRecorder
from supply_projector.service_layer.projector import BatchResult, Projector
from supply_projector.service_layer.rollup_checks import build_if_missing

log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0
TRIM_EVERY_S = 1.0
"""How often, at most, the consumer hands back to the system the memory its batches freed."""
QUARANTINE_COUNT_EVERY_S = 15.0
"""How often the consumer counts the quarantined sales for its metrics (a scrape's interval)."""


ARENAS = 2
"""How many glibc malloc arenas the consumer keeps (glibc's default: eight a core)."""
_M_ARENA_MAX = -8  # glibc's malloc.h


def _native_memory() -> Callable[[], object] | None:
    """Bound what glibc keeps of the memory a batch frees; returns `malloc_trim(0)` to call between
    batches, or None where there is no glibc. A batch's work runs in worker threads, each allocating
    from a glibc arena of its own that keeps what is freed (a batch's documents encoded and decoded,
    several MB), so without either the process grows well past what it holds. Called before the
    worker threads start, so that they share `ARENAS` arenas."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, ARENAS)
    trim = getattr(libc, "malloc_trim", None)
    return None if trim is None else lambda: trim(0)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self.loop.lock:
            await self.loop.flush_rollups()
            await self.loop.settle_commit()
            await self.loop.commit_pending()
            # Fetched but not applied: whoever owns these partitions next reads them again from the
            # committed offsets (and so do we, if they come back to us).
            self.loop.prefetched.clear()
        log.info("partitions revoked", extra={"partitions": sorted(tp.partition for tp in revoked)})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        partitions = sorted(tp.partition for tp in assigned)
        log.info("partitions assigned", extra={"partitions": partitions})
        if self.loop.projector is not None:
            try:
                await self.loop.projector.take_over(partitions)
            except (PyMongoError, CheckpointMoved) as exc:  # the first batch of each partition finishes them too
                log.warning("finishing recorded rollup deltas failed", extra={"error": repr(exc)[:300]})


class ConsumerLoop:
    """At-least-once: a batch's offsets are committed only after its writes succeeded.

    While a batch is being written, the loop goes on taking records from the consumer into the
    next batch. The client fetches a partition again only once its buffered records are taken, so
    waiting until the write ends would leave whatever arrived during the write on the broker for
    one more cycle; taken as they come, the next batch holds everything up to the end of the write
    and the copy trails the topic by about one write, not two.

    A batch's offsets are committed while the next batch is written (a commit to the broker takes
    about as long as writing a small batch): one commit at a time, in batch order, each awaited
    before the next starts, and the one in flight awaited before a rebalance or a stop commits
    what is left."""

    def __init__(self, container: Container, trim: Callable[[], object] | None = None) -> None:
        self.container = container
        self.trim = trim
        """Hands back to the system what the batches freed (`_native_memory`), called at most once a second."""
        self.settings = container.settings
        self.stopping = asyncio.Event()
        self.lock = asyncio.Lock()
        self.pending: dict[TopicPartition, int] = {}
        self.prefetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self.projector: Projector | None = None
        self.batches = 0
        self._committing: asyncio.Future[None] | None = None

    def stop(self) -> None:
        self.stopping.set()

    async def commit_pending(self) -> None:
        if not self.pending or self.consumer is None:
            return
        offsets = dict(self.pending)
        try:
            await self.consumer.commit(offsets)
            for tp, offset in offsets.items():
                if self.pending.get(tp) == offset:
                    del self.pending[tp]
        except CommitFailedError:
            log.warning("commit refused after a rebalance; the records will be applied again (idempotent)")
            self.pending.clear()

    async def flush_rollups(self) -> None:
        """Add the deltas the applied batches recorded to the rollups now. A failure is logged: they
        stay recorded in the checkpoints, and whoever applies the partition next adds them."""
        if self.projector is None:
            return
        try:
            await self.projector.flush()
        except PyMongoError as exc:
            log.warning("adding recorded deltas to the rollups failed", extra={"error": repr(exc)[:300]})

    async def settle_commit(self) -> None:
        """Wait for the commit in flight; its failure is raised here."""
        committing, self._committing = self._committing, None
        if committing is not None:
            await committing

    async def _commit_behind(self) -> None:
        """Start committing what is applied, once the previous commit is done."""
        await self.settle_commit()
        self._committing = asyncio.ensure_future(self.commit_pending())

    async def run(self) -> None:
        """Consume until stopped; returns normally only after a requested stop."""
        settings = self.settings
        await ensure_topics(settings, topics=sales_topics)
        await asyncio.to_thread(self.container.store.ensure_indexes)
        await self._rollups_for_the_copy()
        dead_letters = KafkaDeadLetters(settings)
        await dead_letters.start()
        projector = self.container.projector(dead_letters)
        self.projector = projector
        progress = ProgressRecorder(self.container.store)
        # A client id per process, so that the group's description (the replication panel) tells them apart.
        consumer = make_consumer(
            settings,
            settings.consumer_group,
            session_timeout_ms=settings.session_timeout_ms,
            client_id=f"mongo-projector-consume@{socket.gethostname()}:{os.getpid()}",
        )
        self.consumer = consumer
        consumer.subscribe([settings.sales_topic], listener=_Listener(self))
        await consumer.start()
        log.info("consuming", extra={"topic": settings.sales_topic, "group": settings.consumer_group})
        left = threading.Event()  # this run ended, by a stop or an error
        upgrading = asyncio.ensure_future(self._upgrade_search(lambda: left.is_set() or self.stopping.is_set()))
        try:
            purged_at = counted_at = trimmed_at = float("-inf")
            while not self.stopping.is_set():
                self._beat()
                if time.monotonic() - purged_at > PURGE_EVERY_S:
                    purged_at = time.monotonic()
                    await self._purge_tombstones()
                if time.monotonic() - counted_at > QUARANTINE_COUNT_EVERY_S:
                    counted_at = time.monotonic()
                    await self._count_quarantine()
                if not self.prefetched:
                    self._keep(
                        await consumer.getmany(
                            timeout_ms=settings.poll_timeout_ms, max_records=settings.batch_max_records
                        )
                    )
                if not self.prefetched:
                    continue
                async with self.lock:
                    batches, self.prefetched = self.prefetched, {}
                    records = [to_record(m) for tp in sorted(batches) for m in batches[tp]]
                    metrics.BATCH_SIZE.observe(len(records))
                    applied = await self._apply_prefetching(consumer, projector, records)
                    progress.add(applied.progress.values())
                    for tp, messages in batches.items():
                        if tp.partition in applied.rewind:
                            self.prefetched.pop(tp, None)
                            consumer.seek(tp, applied.rewind[tp.partition])
                            log.info("partition read again from the rollups' checkpoint", extra={"tp": str(tp)})
                        else:
                            self.pending[tp] = messages[-1].offset + 1
                    self.batches += 1
                    await self._commit_behind()
                    if not self.prefetched:  # nothing waits: the rollups catch up with the copy now
                        await self.flush_rollups()
                if self.trim is not None and time.monotonic() - trimmed_at > TRIM_EVERY_S:
                    trimmed_at = time.monotonic()
                    self.trim()
                for tp in consumer.assignment():
                    high = consumer.highwater(tp)
                    if high is not None:
                        # Records taken for the next batch are past the position but not applied yet.
                        taken = self.prefetched.get(tp)
                        applied = taken[0].offset if taken else await consumer.position(tp)
                        metrics.CONSUMER_LAG.labels(str(tp.partition)).set(max(high - applied, 0))
        finally:
            async with self.lock:
                await self.flush_rollups()
                with contextlib.suppress(Exception):
                    await self.settle_commit()  # a failed commit is retried just below
                await self.commit_pending()
                self.prefetched.clear()  # taken, not applied: read again from the committed offsets
            await progress.close()
            await consumer.stop()
            await dead_letters.stop()
            left.set()  # the walk stops at its next page
            await upgrading
            log.info("consumer stopped", extra={"batches": self.batches})

    async def _upgrade_search(self, stop: Callable[[], bool]) -> None:
        """A copy written by an earlier version gets this version's search fields beside consuming
        (`MongoStore.upgrade_search`): both write under the version guard, so neither undoes the
        other; a word search finds the copy's older sales as the walk passes them."""
        try:
            await asyncio.to_thread(self.container.store.upgrade_search, stop)
        except PyMongoError as exc:
            log.warning("filling the words lookup failed; the next start goes on", extra={"error": repr(exc)[:300]})

    async def _rollups_for_the_copy(self) -> None:
        """A copy without rollups (made before there were any) gets them from the copy itself before
        anything is consumed, checkpointed at the group's committed offsets."""
        offsets = KafkaOffsets(self.settings, self.settings.consumer_group)
        try:
            committed = await offsets.committed(self.settings.sales_topic)
        finally:
            await offsets.close()
        store = self.container.store.pinned().rollups()
        await asyncio.to_thread(build_if_missing, store, committed, f"{socket.gethostname()}:{os.getpid()}")

    async def _purge_tombstones(self) -> None:
        retention = timedelta(days=self.settings.tombstone_retention_days)
        try:
            purged = await asyncio.to_thread(self.container.store.purge_tombstones, retention)
        except PyMongoError as exc:
            log.warning("tombstone purge failed; will try again", extra={"error": repr(exc)[:300]})
            return
        if purged:
            log.info("purged tombstones", extra={"count": purged})

    async def _count_quarantine(self) -> None:
        try:
            metrics.QUARANTINED.set(await asyncio.to_thread(self.container.reader.quarantined))
        except PyMongoError as exc:
            log.warning("counting the quarantine failed; will try again", extra={"error": repr(exc)[:300]})

    def _beat(self) -> None:
        if self.settings.heartbeat_file:
            with contextlib.suppress(OSError):
                Path(self.settings.heartbeat_file).touch()

    def _keep(self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for tp, messages in batches.items():
            if messages:
                self.prefetched.setdefault(tp, []).extend(messages)

    async def _apply_prefetching(
        self, consumer: AIOKafkaConsumer, projector: Projector, records: list[Record]
    ) -> BatchResult:
        """Apply one batch; meanwhile take what the consumer fetches (up to a batch) for the next one.
        A failed fetch is raised once the batch in hand is written."""
        applying = asyncio.ensure_future(self._apply_with_retry(projector, records))
        taking: asyncio.Future[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]] | None = None
        failed: BaseException | None = None
        try:
            while not applying.done():
                room = self.settings.batch_max_records - sum(len(m) for m in self.prefetched.values())
                if room <= 0:
                    break
                taking = asyncio.ensure_future(
                    consumer.getmany(timeout_ms=self.settings.poll_timeout_ms, max_records=room)
                )
                await asyncio.wait((applying, taking), return_when=asyncio.FIRST_COMPLETED)
                if not taking.done():
                    break
                taken, taking = taking, None
                failed = taken.exception()
                if failed is not None:
                    break
                self._keep(taken.result())
            applied = await applying
        finally:
            for future in (taking, applying):
                if future is not None and not future.done():
                    future.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await future
        if failed is not None:
            raise failed
        return applied

    async def _apply_with_retry(self, projector: Projector, records: list[Record]) -> BatchResult:
        if not any(tracing.records(record.traceparent) for record in records):
            return await self._apply_until_done(projector, records)
        return await self._apply_traced(projector, records)

    async def _apply_traced(self, projector: Projector, records: list[Record]) -> BatchResult:
        """An apply span per traced record, continuing the trace its header names, from the batch's
        start until its writes are done; the batch's own span (the store's reads and writes) is a
        child of the first and links the others."""
        tracer = tracing.tracer()
        assert tracer is not None
        applies = [
            tracing.record_span(
                tracer,
                "apply",
                tracing.SpanKind.CONSUMER,
                record,
                {
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "messaging.consumer.group.name": self.settings.consumer_group,
                },
            )
            for record in records
            if tracing.records(record.traceparent)
        ]
        failure: BaseException | None = None
        try:
            with tracing.span(
                "mongo: apply batch",
                kind=tracing.SpanKind.CLIENT,
                parent=tracing.under(applies[0]),
                links=tracing.links_to(applies[1:]),
                attributes={"db.system.name": "mongodb", "supply.batch_size": len(records)},
            ) as batch:
                result = await self._apply_until_done(projector, records)
                if batch is not None:
                    batch.set_attributes({"supply.applied": result.applied, "supply.stale": result.stale})
                return result
        except BaseException as exc:
            failure = exc
            raise
        finally:
            for span in applies:
                if failure is not None:
                    tracing.mark_failed(span, failure)
                span.end()

    async def _apply_until_done(self, projector: Projector, records: list[Record]) -> BatchResult:
        delay = 0.2
        while True:
            try:
                result = await projector.apply(records)
            except (PyMongoError, KafkaError, OSError, TimeoutError, CheckpointMoved) as exc:
                metrics.RETRIES.inc()
                log.warning("transient error; retrying the batch", extra={"error": repr(exc)[:300], "delay_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_backoff_s)
                continue
            log.debug("batch applied", extra={"records": len(records), "applied": result.applied})
            return result


async def consume(container: Container) -> None:
    """Run until SIGTERM or SIGINT; finish the batch in hand, commit, leave the group. A broker or
    store that is away at start-up (or drops the group) is waited for, never a reason to exit."""
    loop = ConsumerLoop(container, _native_memory())
    running = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(sig, loop.stop)
    delay = 0.5
    while not loop.stopping.is_set():
        try:
            await loop.run()
        except (KafkaError, PyMongoError, OSError) as exc:
            log.warning("consumer could not run; starting again", extra={"error": repr(exc)[:300], "delay_s": delay})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(loop.stopping.wait(), delay)
            delay = min(delay * 2, container.settings.retry_max_backoff_s)
