"""Row 1: the sale + outbox insert transaction straight through PyMySQL, the write ceiling."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from bench import data
from bench.context import Context
from bench.loadgen import threaded_closed_loop
from bench.model import Row
from bench.schema import sales_database

INSERT_OUTBOX = "INSERT INTO outbox (topic, msg_key, payload, created_at) VALUES (%s, %s, %s, %s)"
TEMPLATES = 1000


class SaleTransaction:
    """Prepared sale templates; each call writes one with a fresh id, as one transaction."""

    def __init__(self, topic: str = "sales.events") -> None:
        self.topic = topic
        sales = data.sales(TEMPLATES, seed=11)
        self.templates = [(data.mysql_rows(sale), data.envelope(sale)) for sale in sales]
        self.cycle = itertools.count()

    def __call__(self, connection: Any, index: int) -> None:
        rows, payload = self.templates[index % TEMPLATES]
        sale_id = str(ObjectId())
        now = datetime.now(UTC).replace(tzinfo=None)
        with connection.cursor() as cursor:
            cursor.execute(data.INSERT_SALE, (sale_id, *rows["sale"][1:]))
            cursor.executemany(data.INSERT_ITEMS, [(sale_id, *item[1:]) for item in rows["items"]])
            cursor.executemany(data.INSERT_TAGS, [(sale_id, *tag[1:]) for tag in rows["tags"]])
            cursor.execute(INSERT_OUTBOX, (self.topic, sale_id.encode(), payload, now))
        connection.commit()


def run(ctx: Context) -> Row:
    row = Row("1", "Raw MySQL: sale + outbox transaction (PyMySQL)")
    database = sales_database(ctx, "raw")
    transaction = SaleTransaction()
    profile = ctx.profile
    for rep in range(profile.reps):
        for concurrency in profile.concurrency_raw:
            ctx.step(f"row 1: PyMySQL, concurrency {concurrency}, rep {rep + 1}/{profile.reps}")
            result = threaded_closed_loop(
                setup=lambda: ctx.stack.mysql(database),
                op=transaction,
                teardown=lambda connection: connection.close(),
                concurrency=concurrency,
                duration_s=profile.duration_s,
                warmup_s=profile.warmup_s,
            )
            if result.errors:
                raise RuntimeError(f"raw MySQL errors: {result.errors} ({result.first_error})")
            row.figure(f"tx_c{concurrency}", f"tx/s, concurrency {concurrency}", "tx/s").samples.append(result.rate)
            row.figure(f"p50_c{concurrency}", f"p50 latency, concurrency {concurrency}", "ms", False).samples.append(
                result.latencies.percentile_ms(50)
            )
    return row
