"""The outbox relay: publishes committed outbox rows to Kafka in id order, then marks them.

At least once: a crash between the broker's ack and the mark republishes the batch (a duplicate
that version-guarded consumers ignore), never loses it.

One relay publishes at a time. The topic is a compacted changelog: compaction keeps each sale's last
record, and a consumer rebuilding from offset 0 ends with it. Two relays publishing at once claim
different rows and either may be acknowledged first, so a sale's older version could land after its
newer one and become the version a rebuild restores. So a relay publishes only while it holds the
publish lock (`publish_lock`, a MySQL named lock of the sales database on a connection of its own);
the others (more relay processes, or the relay of each server process with `WORKERS=N`) stand by
and try again every second and on a commit notice. The holder checks the lock as each claim begins
(in the claim's first statement) and right after it on the lock's own connection (one more round
trip per batch, which also notices a lost connection); a relay that lost it gives that claim back,
confirms only what it already sent, and stands by. The first claim after taking the lock waits for
the rows a previous holder still has claimed (its batch in flight is then either marked or given
back) instead of skipping them; later claims skip the rows of this relay's own batch being confirmed
(`FOR UPDATE SKIP LOCKED`).

What is left: a holder whose database connections die while its produce is in flight can see that
batch land after its successor has published it again and later versions, if the producer is still
retrying it when the successor takes over (the server must first notice the connection is gone, and
a standby retries every second; the producer gives a batch up after its 5 s request timeout).
Reconcile repairs a sale left stale that way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypedDict, TypeVar

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Connection, Engine

from supply_common.kafka import make_producer
from supply_common.settings import KafkaSettings
from supply_sales_writer.adapters import outbox
from supply_sales_writer.adapters.outbox import OutboxRow
from supply_sales_writer.adapters.partitions import partition_for
from supply_sales_writer.adapters.publish_lock import PublishLock

log = logging.getLogger(__name__)
T = TypeVar("T")

# Each relay measures the whole outbox; with several workers the latest reading is the answer.
BACKLOG = Gauge("sales_writer_outbox_backlog", "Outbox rows not yet published.", multiprocess_mode="mostrecent")
OLDEST_AGE = Gauge(
    "sales_writer_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished row.",
    multiprocess_mode="mostrecent",
)
PUBLISH_LATENCY = Histogram(
    "sales_writer_publish_latency_seconds",
    "From the commit of a change to the broker's ack of its event.",
    # Fine below a quarter of a second, as the projector's commit-to-written lag, so that the two
    # can be read side by side.
    buckets=(
        *(0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25),
        *(0.5, 1, 2.5, 5, 10, 30, 60),
    ),
)
PUBLISHED = Counter("sales_writer_events_published_total", "Events acknowledged by the broker.")
RELAY_ERRORS = Counter("sales_writer_relay_errors_total", "Relay cycles that failed (broker or database).")
PUBLISHING = Gauge(
    "sales_writer_relay_publishing",
    "Relays holding the publish lock (1: this one publishes; 0: it stands by for another).",
    multiprocess_mode="livesum",
)

STANDBY_RETRY_S = 1.0
"""How often a relay on standby tries to take the publish lock (a commit notice also makes it try)."""

AfterPublish = Callable[[list[OutboxRow]], Awaitable[None]]
ProducerFactory = Callable[[], AIOKafkaProducer]


class RelayOptions(TypedDict, total=False):
    """A relay's keyword options (see `Relay`), as callers gather them."""

    batch_size: int
    poll_interval_s: float
    min_cycle_s: float
    retention: timedelta
    maintenance: Callable[[], object] | None
    maintenance_interval_s: float
    after_publish: AfterPublish | None
    producer_factory: ProducerFactory | None


class Relay:
    def __init__(
        self,
        engine: Engine,
        kafka: KafkaSettings,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 0.2,
        min_cycle_s: float = 0.0,
        retention: timedelta = timedelta(hours=24),
        maintenance: Callable[[], object] | None = None,
        maintenance_interval_s: float = 60.0,
        after_publish: AfterPublish | None = None,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        self.engine = engine
        self.kafka = kafka
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.min_cycle_s = min_cycle_s
        self.retention = retention
        self.maintenance = maintenance
        self.maintenance_interval_s = maintenance_interval_s
        self.after_publish = after_publish
        # No linger: a batch's sends are queued in one loop turn and go out as one request anyway;
        # lingering would only hold every batch's acknowledgement (and the next claim) back.
        self.producer_factory = producer_factory or (
            lambda: make_producer(kafka, request_timeout_ms=5_000, linger_ms=0)
        )
        self.lock = PublishLock(engine)
        self.healthy = False
        self.last_error: str | None = None
        self._publishing = False
        self._claim_waits = False
        self._producer: AIOKafkaProducer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._next_maintenance = 0.0
        self._next_gauges = 0.0
        self._cycle_started = float("-inf")

    def status(self) -> Literal["ok", "degraded"]:
        """Whether its last cycle worked (publishing, or finding the lock taken on standby)."""
        return "ok" if self.healthy else "degraded"

    @property
    def publishing(self) -> bool:
        """Whether this relay holds the publish lock (False: it stands by, or has not tried yet)."""
        return self._publishing

    def _note_lock(self) -> None:
        """Follow the lock's state in the metric (called after each step that may change it)."""
        held = self.lock.held
        if held != self._publishing:
            self._publishing = held
            PUBLISHING.inc() if held else PUBLISHING.dec()

    async def close(self) -> None:
        """Stop the producer (sending what it holds), then give the publish lock up."""
        await self._close_producer()
        await _in_thread(self.lock.release)
        self._note_lock()

    def wake(self) -> None:
        """Safe from any thread: a local commit wrote outbox rows."""
        loop, event = self._loop, self._wakeup
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        backoff = 0.2
        try:
            while True:
                try:
                    self._cycle_started = time.monotonic()
                    more = await self.drain()
                    self.healthy, self.last_error, backoff = True, None, 0.2
                    await self._housekeeping()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - broker or database away: degrade and retry
                    RELAY_ERRORS.inc()
                    if self.healthy or self.last_error is None:
                        log.warning("relay cycle failed", extra={"error": repr(exc)[:300]})
                    self.healthy, self.last_error = False, repr(exc)[:300]
                    # What was sent goes out (or fails) before the lock is free for another relay.
                    await self.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                if not self.publishing:
                    # On standby nothing is claimed, so nothing is sent: the producer can go.
                    await self._close_producer()
                    await self._idle(max(self.poll_interval_s, STANDBY_RETRY_S))
                elif not more:
                    await self._idle(self.poll_interval_s)
        finally:
            self.healthy = False
            await self.close()

    async def _idle(self, timeout_s: float) -> None:
        assert self._wakeup is not None
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result of a wait that
        # completes in the same loop turn as a cancellation and drops the cancellation, so the
        # relay would go on and a server's shutdown would wait for it forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._wakeup.wait()
        self._wakeup.clear()
        # While commits keep coming, claim no sooner than `min_cycle_s` after the last claim began,
        # so that one cycle takes what arrived meanwhile. A cycle costs mostly the same whatever it
        # carries (claim, produce request, mark and commit here; a fetch and a write downstream): at
        # 1,600 creates/s a spacing of 0.04 s took the relay from about 250 to 70 us of CPU per event
        # and MariaDB's and Kafka's with it. After a quiet spell the last claim is long past: no wait.
        spacing = self._cycle_started + self.min_cycle_s - time.monotonic()
        if spacing > 0:
            await asyncio.sleep(spacing)

    async def _started_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self.producer_factory()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await producer.stop()

    async def publish_once(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        batch = await self._claim_and_send()
        return 0 if batch is None else await self._confirm(batch)

    async def drain(self, budget_s: float = 1.0) -> bool:
        """Publish full batches for up to `budget_s`; returns whether rows are probably still waiting
        (the last batch was full). Without the publish lock (another relay holds it) nothing is
        claimed and it returns False; `publishing` says which.

        Batch N is confirmed (acknowledgements awaited, rows marked, committed) while batch N+1 is
        claimed (SKIP LOCKED passes over N's rows) and handed to the producer, so MySQL and Kafka
        work at the same time. Order per sale holds: N+1 reaches the producer after N, and the
        idempotent producer keeps that order per partition. If N fails, N+1 is not marked either:
        both are sent again later (duplicates, which version-guarded consumers ignore)."""
        deadline = time.monotonic() + budget_s
        batch = await self._claim_and_send()
        while batch is not None:
            full = len(batch.rows) == self.batch_size
            confirming = asyncio.ensure_future(self._confirm(batch))
            following: _Batch | None = None
            try:
                if full and time.monotonic() < deadline:
                    following = await self._claim_and_send()
            finally:
                try:
                    await confirming
                except BaseException:
                    # A confirmation cancelled before its first step never ran its own clean-up:
                    # give the claim back here too (abandoning twice is harmless).
                    await batch.abandon()
                    if following is not None:
                        await following.abandon()
                    raise
            if not full:
                return False
            if following is None:
                return self.publishing  # the budget ran out, or the lock was lost
            batch = following
        return False

    async def _claim_and_send(self) -> _Batch | None:
        """Lock the next unpublished rows and hand them to the producer; None when there are none or
        this relay does not hold the publish lock."""
        try:
            if not self.lock.held:
                if not await _in_thread(self.lock.acquire):
                    return None
                self._claim_waits = True
            producer = await self._started_producer()
            connection, rows = await _in_thread(
                _claim_as_publisher,
                self.lock,
                self.engine,
                self.batch_size,
                self._claim_waits,
                release=lambda claimed: _close(claimed[0]),
            )
            self._claim_waits = False
        finally:
            self._note_lock()
        if connection is None:
            return None
        try:
            acks = await _send(producer, rows)
        except BaseException:
            await _in_thread(connection.close)
            raise
        return _Batch(connection, rows, acks)

    async def _confirm(self, batch: _Batch) -> int:
        """Wait for every acknowledgement of a batch, then mark its rows published and commit."""
        try:
            await asyncio.gather(*batch.acks)
            acked = datetime.now(UTC)
            acked_us = acked.timestamp() * 1e6
            for row in batch.rows:
                PUBLISH_LATENCY.observe(max(0.0, (acked_us - row.created_us) / 1e6))
            PUBLISHED.inc(len(batch.rows))
            if self.after_publish is not None:
                await self.after_publish(batch.rows)
            await _in_thread(_mark_commit_and_close, batch.connection, [row.id for row in batch.rows], acked)
            return len(batch.rows)
        finally:
            await batch.abandon()

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_gauges:
            self._next_gauges = now + 1.0
            await _in_thread(self.update_gauges)
        if now >= self._next_maintenance and self.publishing:  # the one publisher purges
            self._next_maintenance = now + self.maintenance_interval_s
            await _in_thread(self.purge)
            if self.maintenance is not None:
                await _in_thread(self.maintenance)

    def update_gauges(self) -> outbox.OutboxStats:
        with self.engine.connect() as connection:
            current = outbox.stats(connection)
        BACKLOG.set(current.backlog)
        oldest = current.oldest_unpublished_at
        OLDEST_AGE.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
        return current

    def purge(self) -> int:
        total = 0
        while True:
            with self.engine.begin() as connection:
                purged = outbox.purge(connection, datetime.now(UTC) - self.retention)
            total += purged
            if purged < 10_000:
                return total


@dataclass
class _Batch:
    """Claimed rows (locked by the open transaction on `connection`) and their pending acks."""

    connection: Connection
    rows: list[OutboxRow]
    acks: list[asyncio.Future[object]]

    async def abandon(self) -> None:
        """Close the connection (rolling back the claim unless it was committed); acks that may still
        fail are observed so their errors are not reported as never retrieved."""
        for ack in self.acks:
            if ack.done():
                _observe(ack)  # at once: a callback on a done future is one more loop handle per row
            else:
                ack.add_done_callback(_observe)
        if not self.connection.closed:
            await _in_thread(self.connection.close)


async def _send(producer: AIOKafkaProducer, rows: list[OutboxRow]) -> list[asyncio.Future[object]]:
    """Hand rows to the producer as record batches, one or more per partition, each in id order.

    Rows go to the partitions `send` would pick (Kafka's default rule for a key: `partition_for`).
    Building the batches here spares `send`'s per-record work (a coroutine, a partition list built
    twice, a future, the key's hash in Python), which was most of the relay's producer time. Batches
    of one partition enter the producer in id order, and batches of an earlier claim before those of
    a later one; the idempotent producer keeps that order on the broker."""
    grouped: dict[tuple[str, int], list[OutboxRow]] = {}
    known: dict[str, list[int]] = {}
    for row in rows:
        if row.topic not in known:
            await producer.partitions_for(row.topic)  # waits for the topic's metadata
            known[row.topic] = sorted(producer.client.cluster.partitions_for_topic(row.topic) or ())
        grouped.setdefault((row.topic, partition_for(row.key, known[row.topic])), []).append(row)
    acks: list[asyncio.Future[object]] = []
    for (topic, partition), pending in grouped.items():
        while pending:
            batch = producer.create_batch()
            taken = 0
            for row in pending:
                if batch.append(timestamp=None, key=row.key, value=row.payload) is None:
                    break  # full
                taken += 1
            if not taken:
                raise ValueError(f"outbox row {pending[0].id} is larger than a producer batch")
            batch.close()  # nothing but these rows goes into it
            acks.append(await producer.send_batch(batch, topic, partition=partition))
            pending = pending[taken:]
    return acks


def _observe(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


async def _in_thread(function: Callable[..., T], *args: object, release: Callable[[T], object] | None = None) -> T:
    """Run blocking database work in a thread; on cancellation wait for it before going on, so a
    connection is never used by two threads at once. `release` undoes a result nobody will use
    (a claim that completed after its caller was cancelled still holds a connection and its locks)."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            result = await work
            if release is not None:
                await asyncio.to_thread(release, result)
        raise


def _close(connection: Connection | None) -> None:
    if connection is not None:
        connection.close()


# Each step below is one trip to a worker thread: under load a hand-off waits for the GIL behind the
# request threads, so a batch makes two (claim; mark and release), not one per call.


def _claim_as_publisher(
    lock: PublishLock, engine: Engine, limit: int, wait: bool
) -> tuple[Connection | None, list[OutboxRow]]:
    """A connection holding the claimed rows' locks in its open transaction, or (None, []) when there
    is nothing to publish or the publish lock was lost (the connection is back in the pool then).

    `wait` (the lock was just taken): the claim waits for rows a previous holder still has claimed
    rather than skipping them, so that they are published (by it, or again here) before anything
    after them. The lock is checked as the claim begins (in its first statement) and after it (on
    the lock's own connection, which notices a lost connection): a relay that lost the lock gives
    the claim back rather than publish beside its successor, and holds rows its successor would
    skip for no longer than one round trip."""
    holder = lock.connection_id
    if holder is None:
        return None, []
    connection = engine.connect()
    try:
        connection.begin()
        rows = outbox.claim(connection, limit, wait=wait, holder=(lock.name, holder))
        if not lock.still_held():
            rows = []
    except BaseException:
        connection.close()
        raise
    if not rows:
        connection.close()
        return None, []
    return connection, rows


def _mark_commit_and_close(connection: Connection, ids: list[int], at: datetime) -> None:
    try:
        outbox.mark_published(connection, ids, at)
        connection.commit()
    finally:
        connection.close()
