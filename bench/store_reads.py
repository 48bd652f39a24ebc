"""Times each read query shape of the sales API directly against a store, at one copy size.

    uv run --frozen python -m bench.store_reads --url mongodb://127.0.0.1:27117 --count 100000

Loads `count` sales in the projector's stored shape (its `stored_document`, money as the server
takes it) into a scratch collection with the projector's indexes and words lookup, then runs
the first page of each filter alone, each sort, a sale by id and a customer's sales, as the read API
builds them (`SalesFilter`, `page_query`, limit + 1), and prints the median and p95 of each in ms.
The collection is kept between runs of the same size, and dropped with `--drop`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId
from pymongo.errors import NetworkTimeout

from bench.data import envelope, sales
from supply_common.contract import SaleEvent
from supply_projector.adapters.mongo import MongoStore, connect
from supply_projector.adapters.server import ActiveCollection, MoneyModeOf, detect_money_mode
from supply_projector.domain import money
from supply_projector.domain.document import stored_document
from supply_projector.domain.queries import DateRange, SalesFilter, SortOrder, customer_match, page_query
from supply_projector.service_layer.vocabulary import Vocabulary

PAGE = 20
BATCH = 1000


def load(collection: Any, count: int, mode: money.MoneyMode) -> list[dict[str, Any]]:
    """The generated sales, inserted when the collection does not hold them yet."""
    generated = sales(count, seed=7)
    documents = []
    now = datetime.now(UTC)
    for sale in generated:
        event = SaleEvent.from_bytes(envelope(sale))
        stored = stored_document(event, now)
        assert stored is not None
        documents.append(money.encode(stored, mode))
    if collection.estimated_document_count() != count:
        collection.drop()
        started = time.perf_counter()
        for i in range(0, count, BATCH):
            collection.insert_many(documents[i : i + BATCH], ordered=False)
        print(f"loaded {count} sales in {time.perf_counter() - started:.1f} s")
    return documents


def shapes(sample: dict[str, Any], vocabulary: Vocabulary) -> dict[str, tuple[dict[str, Any] | None, SortOrder]]:
    """Each filter alone and each sort, with values taken from one stored sale; None for a search
    that the words lookup answers empty."""
    email = sample["customer"]["email"]
    first_of_2016 = datetime(2016, 1, 1, tzinfo=UTC)

    def words(search: SalesFilter) -> dict[str, Any] | None:
        resolved = vocabulary.resolve(search)
        return None if resolved is None else resolved.filter()

    return {
        "newest first": ({}, "date_desc"),
        "oldest first": ({}, "date_asc"),
        "total, highest first": ({}, "total_desc"),
        "total, lowest first": ({}, "total_asc"),
        "store, A to Z": ({}, "store_asc"),
        "store, Z to A": ({}, "store_desc"),
        "store": (SalesFilter(store=sample["storeLocation"]).filter(), "date_desc"),
        "purchase method": (SalesFilter(method=sample["purchaseMethod"]).filter(), "date_desc"),
        "coupon": (SalesFilter(coupon=True).filter(), "date_desc"),
        "customer email": (SalesFilter(email=email).filter(), "date_desc"),
        "item": (words(SalesFilter(item=sample["items"][0]["name"])), "date_desc"),
        "item (absent)": (words(SalesFilter(item="no such item")), "date_desc"),
        "tag": (words(SalesFilter(tag=sample["_supply"]["tags"][0])), "date_desc"),
        "date range (30 days)": (
            SalesFilter(dates=DateRange(first_of_2016, datetime(2016, 1, 31, tzinfo=UTC))).filter(),
            "date_desc",
        ),
        "date range (1 year)": (
            SalesFilter(dates=DateRange(first_of_2016, datetime(2017, 1, 1, tzinfo=UTC))).filter(),
            "date_desc",
        ),
        "total range": (SalesFilter(total_min=Decimal(100), total_max=Decimal(200)).filter(), "date_desc"),
        "/me/sales": (customer_match(email), "date_desc"),
    }


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--only", help="comma-separated query names to run (default: all)")
    args = parser.parse_args()

    client = connect(args.url, timeout_ms=600_000)
    database = client["bench_store_reads"]
    name = f"sales_{args.count}"
    if args.drop:
        database.drop_collection(name)
    collection = database[name]
    documents = load(collection, args.count, detect_money_mode(client))
    store = MongoStore(database, MoneyModeOf(client), ActiveCollection(database, fixed=name))
    store.ensure_indexes()  # and the words lookup, filled from the loaded sales
    vocabulary = Vocabulary(store.words())
    print(f"indexes: {sorted(collection.index_information())}")
    middle = documents[len(documents) // 2]
    # the ids are new on each run; the collection may hold an earlier run's
    sample = collection.find_one({"customer.email": middle["customer"]["email"]}) or middle

    print(f"{'query':<24} {'found':>5} {'p50 ms':>9} {'p95 ms':>9}")
    sale_id = sample["_id"]
    found = collection.find_one({"_id": ObjectId(sale_id)})
    p50, p95 = timed(lambda: collection.find_one({"_id": ObjectId(sale_id)}), args.repeat)
    print(f"{'by id':<24} {int(found is not None):>5} {p50:>9.1f} {p95:>9.1f}")
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    for label, (base, sort) in shapes(sample, vocabulary).items():
        if only is not None and label not in only:
            continue
        if base is None:
            print(f"{label:<24} {0:>5} {'answered by the words lookup, no sale read':>19}", flush=True)
            continue
        query, order = page_query(base, sort, None)

        def page(query: dict[str, Any] = query, order: list[tuple[str, int]] = order) -> list[dict[str, Any]]:
            return list(collection.find(query).sort(order).limit(PAGE + 1))

        try:
            found = len(page())
            p50, p95 = timed(page, args.repeat)
        except NetworkTimeout:
            print(f"{label:<24} {'':>5} {'timed out (socket timeout of connect())':>19}", flush=True)
            continue
        print(f"{label:<24} {found:>5} {p50:>9.1f} {p95:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
