"""The reads row's data: generated sales written in bulk to MySQL and, as `sale.created` events, to a
topic that the projector's own consumer applies to the copy (with whatever it maintains beside the
sales). The HTTP write path and the outbox are bypassed, so a million sales load in minutes; both
sides hold the same sales, so MySQL answers the same aggregates as the copy.

The copy grows from one size to the next: the sales of a smaller size are the first ones of every
larger size (the generator's stream is the same for a seed)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench import data
from bench.context import Context, projector_env
from bench.data import INSERT_ITEMS, INSERT_SALE, INSERT_TAGS
from bench.rows.projector import catch_up
from bench.schema import sales_database
from bench.services import ServiceProcess, require
from supply_common.kafka import make_producer
from supply_common.settings import KafkaSettings
from supply_common.testing import dataset

SEED = 24
CUSTOMERS = 50_000
"""Returning customers the sales are drawn from; a few buy often, so every size has a customer with
close to 20 purchases."""
CHUNK = 2_000
BULK_BATCH = 5_000
"""Records per batch of the loading consumer (the projector's most is 10,000): a batch writes its
sales in one command and each month they fall in once, so larger batches load a backlog spread over
years faster than the live default of 1,000."""
KEPT_IDS = 500
PURCHASES = 20


@dataclass
class Copy:
    ctx: Context
    sales_db: str
    topic: str
    dlq: str
    mongo_db: str
    group: str
    consumer: ServiceProcess
    stream: Iterator[dict[str, Any]]
    loaded: int = 0
    purchases: Counter[str] = field(default_factory=Counter)
    sale_ids: list[str] = field(default_factory=list)
    _picker: random.Random = field(default_factory=lambda: random.Random(SEED))

    @classmethod
    def create(cls, ctx: Context, largest: int) -> Copy:
        require("mongo-projector", "consume")
        sales_db = sales_database(ctx, "reads")
        topic = ctx.topic("reads.events", compact=True)
        dlq = ctx.topic("reads.dlq", partitions=1)
        mongo_db = ctx.mongo_database("reads")
        group = f"bench-{ctx.run_id}-reads"
        consumer = ctx.consumer(
            "reads-projector-consume",
            mongo_database=mongo_db,
            topic=topic,
            dlq=dlq,
            group=group,
            batch_max_records=BULK_BATCH,
        ).start(ctx.sampler, "mongo-projector consume")
        stream = dataset.sales(largest, SEED, customers=CUSTOMERS)
        return cls(ctx, sales_db, topic, dlq, mongo_db, group, consumer, stream)

    def projector_env(self) -> dict[str, str | int]:
        return projector_env(mongo_database=self.mongo_db, topic=self.topic, dlq=self.dlq, group=self.group)

    def grow_to(self, size: int) -> float:
        """Load sales until the copy and MySQL hold `size`; seconds until the consumer has applied them."""
        started = asyncio.run(self._load(size))
        budget_s = max(300.0, size / 100)
        _, (finished, applied) = asyncio.run(
            catch_up(self.ctx.stack.kafka, self.group, self.loaded, [self.consumer], budget_s, poll_s=0.5)
        )
        if applied < self.loaded:
            raise RuntimeError(f"the projector applied {applied:,} of {self.loaded:,} events in {budget_s:.0f} s")
        return finished - started

    async def _load(self, size: int) -> float:
        started = time.perf_counter()
        producer = make_producer(KafkaSettings(kafka_bootstrap_servers=self.ctx.stack.kafka))
        await producer.start()
        try:
            with self.ctx.stack.mysql(self.sales_db) as connection:
                while self.loaded < size:
                    chunk = [next(self.stream) for _ in range(min(CHUNK, size - self.loaded))]
                    self.ctx.step(f"row 10: loading sales {self.loaded + 1:,}-{self.loaded + len(chunk):,} of {size:,}")
                    await asyncio.to_thread(_insert, connection, chunk)
                    sent = [
                        await producer.send(self.topic, data.envelope(sale), key=sale["_id"].encode()) for sale in chunk
                    ]
                    await asyncio.gather(*sent)
                    self._remember(chunk)
        finally:
            await producer.stop()
        return started

    def _remember(self, chunk: list[dict[str, Any]]) -> None:
        for sale in chunk:
            self.loaded += 1
            self.purchases[sale["customer"]["email"]] += 1
            if len(self.sale_ids) < KEPT_IDS:
                self.sale_ids.append(sale["_id"])
            else:
                slot = self._picker.randrange(self.loaded)
                if slot < KEPT_IDS:
                    self.sale_ids[slot] = sale["_id"]

    def customer(self) -> tuple[str, int]:
        """The customer with the most purchases, up to 20, and how many they made."""
        email, count = max(
            ((email, count) for email, count in self.purchases.items() if count <= PURCHASES),
            key=lambda pair: (pair[1], pair[0]),
        )
        return email, count


def _insert(connection: Any, chunk: list[dict[str, Any]]) -> None:
    rows = [data.mysql_rows(sale) for sale in chunk]
    with connection.cursor() as cursor:
        cursor.executemany(INSERT_SALE, [row["sale"] for row in rows])
        cursor.executemany(INSERT_ITEMS, [item for row in rows for item in row["items"]])
        cursor.executemany(INSERT_TAGS, [tag for row in rows for tag in row["tags"]])
    connection.commit()
