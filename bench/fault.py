"""A MongoDB outage in the middle of a write load, and the count of sales on which the two stores disagree."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench import http
from bench.context import Context
from bench.loadgen import LoopResult, open_loop
from supply_common.testing.stack import stack_command


@dataclass
class Divergence:
    in_mysql: int
    in_mongo: int
    missing: int
    different: int
    extra: int

    @property
    def total(self) -> int:
        return self.missing + self.different + self.extra


def divergence(ctx: Context, sales_db: str, mongo_db: str, collection: str = "sales") -> Divergence:
    """Compare ids and content hashes: MySQL `sales.content_hash` against `_supply.hash` in the copy."""
    with ctx.stack.mysql(sales_db) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, content_hash FROM sales")
        mysql = dict(cursor.fetchall())
    with ctx.stack.mongo() as client:
        found = client[mongo_db][collection].find({}, {"_id": 1, "_supply.hash": 1})
        mongo = {str(doc["_id"]): doc.get("_supply", {}).get("hash") for doc in found}
    missing = sum(1 for sale_id in mysql if sale_id not in mongo)
    different = sum(1 for sale_id, digest in mysql.items() if sale_id in mongo and mongo[sale_id] != digest)
    extra = sum(1 for sale_id in mongo if sale_id not in mysql)
    return Divergence(len(mysql), len(mongo), missing, different, extra)


async def _outage(at_s: float, down_s: float, after_s: float, done: asyncio.Event) -> None:
    """Stop FerretDB after `at_s`, keep it down `down_s`, start it again; `done` is set `after_s` later."""
    await asyncio.sleep(at_s)
    try:
        await asyncio.to_thread(stack_command, "stop", "ferretdb", capture=True)
        await asyncio.sleep(down_s)
    finally:
        await asyncio.to_thread(stack_command, "start", "ferretdb", capture=True)
    await asyncio.sleep(after_s)
    done.set()


def load_with_outage(ctx: Context, url: str, headers: dict[str, str], payloads: list[bytes], rate: float) -> LoopResult:
    """Open-loop creates at `rate` from before FerretDB is stopped (for `fault_down_s`) until after it is back."""
    profile = ctx.profile
    after_s = max(2.0, profile.fault_run_s - profile.fault_at_s - profile.fault_down_s)

    async def scenario() -> LoopResult:
        async with http.client() as client:
            creator = http.Creator(client, url, payloads, headers)
            done = asyncio.Event()
            outage = asyncio.create_task(_outage(profile.fault_at_s, profile.fault_down_s, after_s, done))
            try:
                result = await open_loop(creator, rate, 600.0, stop=done)
            finally:
                await outage
            return result

    try:
        return asyncio.run(scenario())
    finally:
        stack_command("start", "ferretdb", capture=True)


def wait_converged(ctx: Context, sales_db: str, mongo_db: str, timeout_s: float) -> tuple[Divergence, float]:
    """Poll until the copy matches MySQL or the timeout passes; returns the last comparison and the wait."""
    started = time.monotonic()
    while True:
        try:
            current = divergence(ctx, sales_db, mongo_db)
        except Exception:  # noqa: BLE001 - the server may still be coming back
            current = None
        waited = time.monotonic() - started
        if current is not None and (current.total == 0 or waited > timeout_s):
            return current, waited
        if waited > timeout_s:
            return divergence(ctx, sales_db, mongo_db), waited
        time.sleep(1.0)
