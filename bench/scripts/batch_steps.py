"""Where a projector batch's time goes: generated sales applied by the projector's use case (no Kafka)
in batches to a fresh database, with the time of each store step (the sales' write, the checkpoint,
the rollup documents' read and write, the lookups) summed over the run.

    uv run python -m bench.scripts.batch_steps --sales 3000 --batch 500 --dates spread

`--dates spread` dates the sales over five years from 2013, as an import of the dataset's history;
`--dates now` dates them now, as live sales. Needs MONGO_URL (e.g. from `deploy/local/stack env`);
drops its database afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import data
from supply_common.contract import rfc3339
from supply_projector.adapters.mongo import MongoStore
from supply_projector.adapters.rollups import MongoRollups
from supply_projector.bootstrap import bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.service_layer.ports import Record
from supply_projector.service_layer.projector import Projector

STEPS = {
    MongoStore: ("execute", "record_checkpoints", "documents", "tombstones", "quarantined", "checkpoints"),
    MongoRollups: ("add_to_buckets",),
}


def timed(spent: dict[str, list[float]]) -> None:
    """Wrap the store's steps so that each call adds its seconds to `spent[name]`."""

    def wrap(kind: type, name: str) -> None:
        step: Callable[..., Any] = getattr(kind, name)

        def measured(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return step(self, *args, **kwargs)
            finally:
                spent[name].append(time.perf_counter() - started)

        setattr(kind, name, measured)

    for kind, names in STEPS.items():
        for name in names:
            wrap(kind, name)


def records(count: int, dates: str) -> list[Record]:
    sales = data.sales(count, seed=5)
    if dates == "now":
        for sale in sales:
            sale["saleDate"] = rfc3339(datetime.now(UTC))
    found = [Record("sales", n % 6, n // 6, sale["_id"].encode(), data.envelope(sale)) for n, sale in enumerate(sales)]
    return sorted(found, key=lambda record: (record.offset, record.partition))


async def apply_all(projector: Projector, batches: list[list[Record]]) -> None:
    for batch in batches:
        await projector.apply(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dates", choices=("spread", "now"), default="spread")
    args = parser.parse_args()

    container = bootstrap(ProjectorSettings(mongo_database="batch_steps_" + uuid.uuid4().hex[:8]))
    try:
        container.store.ensure_indexes()
        spent: dict[str, list[float]] = defaultdict(list)
        timed(spent)
        every = records(args.sales, args.dates)
        batches = [every[n : n + args.batch] for n in range(0, len(every), args.batch)]
        started = time.perf_counter()
        asyncio.run(apply_all(Projector(container.store, None), batches))
        elapsed = time.perf_counter() - started
        print(
            f"{args.sales:,} sales dated {args.dates} in batches of {args.batch}: {elapsed:.1f} s, "
            f"{args.sales / elapsed:,.0f} sales/s"
        )
        print(f"{'step':<20} {'ms a batch':>10} {'calls':>6} {'ms a call':>10}")
        for name, times in sorted(spent.items(), key=lambda item: -sum(item[1])):
            total_ms = sum(times) * 1000
            print(f"{name:<20} {total_ms / len(batches):>10.1f} {len(times):>6} {total_ms / len(times):>10.1f}")
    finally:
        container.client.drop_database(container.database.name)
        container.client.close()


if __name__ == "__main__":
    main()
