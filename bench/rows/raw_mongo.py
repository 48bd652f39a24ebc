"""Row 5b: raw unordered bulk writes of sale documents into the MongoDB-compatible server.

Two figures: bulk insert of new documents, and bulk upsert (replace-or-insert by `_id`). On FerretDB v1
with SQLite every `_id` filter scans the collection, so the upsert rate falls as the collection grows;
it is measured on a bounded number of documents from an empty collection.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import InsertOne, ReplaceOne

from bench import data
from bench.context import Context
from bench.model import Row

BATCH = 500
UPSERT_LIMIT = 1_000


def bulk(collection: Any, documents: list[dict[str, Any]], upsert: bool) -> float:
    """Unordered bulk writes in batches; returns documents per second."""
    started = time.perf_counter()
    for start in range(0, len(documents), BATCH):
        chunk = documents[start : start + BATCH]
        if upsert:
            ops: list[Any] = [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in chunk]
        else:
            ops = [InsertOne(doc) for doc in chunk]
        collection.bulk_write(ops, ordered=False)
    return len(documents) / (time.perf_counter() - started)


def run(ctx: Context) -> Row:
    row = Row("5b", "Raw MongoDB bulk writes (unordered)")
    count = ctx.profile.backlog
    upserts = min(count, UPSERT_LIMIT if ctx.profile.name == "full" else 500)
    database = ctx.mongo_database("raw")
    with ctx.stack.mongo() as client:
        decimal128 = data.supports_decimal128(client)
        ctx.shared["decimal128"] = decimal128
        ctx.step(f"row 5b: preparing {count:,} documents")
        documents = [data.document(sale, decimal128=decimal128) for sale in data.sales(count, seed=31)]
        prices = "Decimal128 prices" if decimal128 else "prices as text (the server has no Decimal128)"
        row.note = f"insert {count:,} docs; upsert {upserts:,} docs from empty; batches of {BATCH}; {prices}"
        for rep in range(ctx.profile.reps_service):
            ctx.step(f"row 5b: bulk insert of {count:,} documents, rep {rep + 1}/{ctx.profile.reps_service}")
            collection = client[database][f"insert_{rep}"]
            row.figure("insert_s", "bulk insert, documents/s", "doc/s").samples.append(
                bulk(collection, documents, upsert=False)
            )
            collection.drop()
            ctx.step(f"row 5b: bulk upsert of {upserts:,} documents, rep {rep + 1}/{ctx.profile.reps_service}")
            collection = client[database][f"upsert_{rep}"]
            row.figure("upsert_s", f"bulk upsert ({upserts:,} from empty), documents/s", "doc/s").samples.append(
                bulk(collection, documents[:upserts], upsert=True)
            )
            collection.drop()
    return row
