"""`sales-writer relay`: the outbox relay in a process of its own, until SIGTERM or Ctrl-C. With
`RELAY_WAKE_ADDRESS` it also listens there for the commit notices of the serving processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from supply_common.kafka import ensure_topics, sales_topics
from supply_sales_writer.adapters.wakeup import listen
from supply_sales_writer.bootstrap import Container


async def run_relay(container: Container, *, create_topics: bool = True) -> None:
    settings = container.settings
    if create_topics:
        with contextlib.suppress(Exception):
            await ensure_topics(settings, timeout_s=10, topics=sales_topics)
    task = asyncio.create_task(container.relay.run(), name="outbox-relay")
    notices = await listen(settings.relay_wake_address, container.relay.wake) if settings.relay_wake_address else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if notices is not None:
            notices.close()
