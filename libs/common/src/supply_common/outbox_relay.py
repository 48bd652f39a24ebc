"""A relay for a low-rate transactional outbox: rows written in the same MySQL transaction as the
change they describe, published to Kafka afterwards, in id order, and marked published once the
broker acknowledged them (auth's account events; the sales-writer has its own relay, tuned for
thousands of rows a second).

At least once: a crash or a broker error between the ack and the mark publishes the rows again later
(duplicates, which the topic's readers apply idempotently); a committed row is never skipped, so a
broker outage delays events and loses none.

One relay per database publishes at a time: it holds the database's publish lock
(`supply_common.publish_lock`) and checks it before every batch; the others stand by and take over
when it stops. The table is `outbox` (`id` auto-increment, `topic`, `msg_key`, `payload`,
`created_at`, `published_at`, indexed on `(published_at, id)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from aiokafka import AIOKafkaProducer
from sqlalchemy import Connection, Engine, text

from supply_common.kafka import start_producer, stop_producer
from supply_common.publish_lock import PublishLock
from supply_common.wakeup import Wakeup

log = logging.getLogger(__name__)

ProducerFactory = Callable[[], AIOKafkaProducer]

PENDING = text(
    "SELECT id, topic, msg_key, payload FROM outbox FORCE INDEX (ix_outbox_published_at_id)"
    " WHERE published_at IS NULL ORDER BY id LIMIT :limit"
)
BACKLOG = text("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
PURGE = text("DELETE FROM outbox WHERE published_at < :before ORDER BY published_at LIMIT 1000")


class OutboxRecord(NamedTuple):
    id: int
    topic: str
    key: bytes
    value: bytes


def add_records(connection: Connection, records: Sequence[tuple[str, bytes, bytes]], now: datetime) -> None:
    """Insert (topic, key, value) records into the outbox, in the caller's open transaction."""
    if records:
        connection.execute(
            text("INSERT INTO outbox (topic, msg_key, payload, created_at) VALUES (:topic, :key, :value, :now)"),
            [{"topic": topic, "key": key, "value": value, "now": now} for topic, key, value in records],
        )


@dataclass(eq=False)
class OutboxRelay:
    """Publishes the outbox of `engine`'s database with a producer made by `producer_factory` while it
    holds the publish lock; `run()` keeps doing so until cancelled. `wake()` (from any thread, after a
    commit that wrote rows) makes it look at once instead of at its next poll."""

    engine: Engine
    producer_factory: ProducerFactory
    lock: PublishLock
    _: KW_ONLY
    batch_size: int = 200
    poll_interval_s: float = 0.25
    retention: timedelta = timedelta(days=1)
    purge_interval_s: float = 60.0
    healthy: bool = field(default=False, init=False)
    last_error: str | None = field(default=None, init=False)
    published: int = field(default=0, init=False)
    _producer: AIOKafkaProducer | None = field(default=None, init=False, repr=False)
    _waker: Wakeup = field(default_factory=Wakeup, init=False, repr=False)

    def status(self) -> Literal["ok", "degraded"]:
        """Whether its last cycle worked (publishing, or finding another relay holding the lock)."""
        return "ok" if self.healthy else "degraded"

    def wake(self) -> None:
        self._waker.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wakeup = self._waker.arm()
        backoff, next_purge = 0.2, 0.0
        try:
            while True:
                wakeup.clear()
                try:
                    more = await self.publish_pending()
                    if self.lock.held and loop.time() >= next_purge:
                        next_purge = loop.time() + self.purge_interval_s
                        await asyncio.to_thread(self.purge)
                    self.healthy, self.last_error, backoff = True, None, 0.2
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - broker or database away: retry, lose nothing
                    if self.healthy or self.last_error is None:
                        log.warning("outbox relay cycle failed", extra={"error": repr(exc)[:300]})
                    self.healthy, self.last_error = False, repr(exc)[:300]
                    await self._stop_producer()
                    await asyncio.to_thread(self.lock.release)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                if not more:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_interval_s if self.lock.held else 1.0):
                            await wakeup.wait()
        finally:
            self.healthy = False
            await self._stop_producer()
            await asyncio.to_thread(self.lock.release)

    async def publish_pending(self) -> bool:
        """Publish one batch of unpublished rows, in id order, if this relay holds (or takes) the lock;
        returns whether more rows are probably waiting."""
        if not await asyncio.to_thread(self.lock.acquire):
            await self._stop_producer()  # on standby: nothing to send
            return False
        records = await asyncio.to_thread(self._pending)
        if not records:
            return False
        producer = await self._started_producer()
        acks = [await producer.send(r.topic, r.value, key=r.key) for r in records]
        await asyncio.gather(*acks)
        await asyncio.to_thread(self._mark, [r.id for r in records])
        self.published += len(records)
        return len(records) == self.batch_size

    def _pending(self) -> list[OutboxRecord]:
        with self.engine.connect() as connection:
            rows = connection.execute(PENDING, {"limit": self.batch_size}).all()
        return [OutboxRecord(int(row[0]), row[1], bytes(row[2]), bytes(row[3])) for row in rows]

    def _mark(self, ids: list[int]) -> None:
        listed = ",".join(str(int(row_id)) for row_id in ids)
        with self.engine.begin() as connection:
            connection.execute(
                text(f"UPDATE outbox SET published_at = :at WHERE id IN ({listed})"),  # noqa: S608 - integers only
                {"at": _db_now()},
            )

    def backlog(self) -> int:
        """Rows not yet published (blocking)."""
        with self.engine.connect() as connection:
            return int(connection.execute(BACKLOG).scalar_one())

    def purge(self) -> int:
        """Delete rows published longer than the retention ago; how many went (blocking)."""
        gone = 0
        while True:
            with self.engine.begin() as connection:
                deleted = connection.execute(PURGE, {"before": _db_now() - self.retention}).rowcount
            gone += deleted
            if deleted < 1000:
                return gone

    async def _started_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await start_producer(self.producer_factory)
        return self._producer

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        await stop_producer(producer)


def _db_now() -> Any:
    """Now as the outbox keeps times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
