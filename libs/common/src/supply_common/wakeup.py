"""A wake-up call that any thread may place to a loop waiting between polls (a relay told that a
commit just wrote outbox rows)."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """`arm()`, in the waiting loop, gives the event that loop waits on; `set()`, from any thread,
    sets it, and does nothing while no loop armed it or once that loop has closed."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def arm(self) -> asyncio.Event:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        return self._event

    def set(self) -> None:
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)
