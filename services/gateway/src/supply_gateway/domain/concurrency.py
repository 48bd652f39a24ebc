"""A cap on the calls one key (a user) has in flight at once."""

from __future__ import annotations

import asyncio
from collections import deque


class ConcurrencyCap:
    """At most `limit` slots held per key. `try_acquire` answers at once; `acquire` waits its turn (first
    come, first served) up to a deadline. Every slot taken must be given back with `release`. Keys with
    nothing in flight are forgotten, so memory grows with the callers in flight, not with all callers."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the cap must allow at least one call")
        self.limit = limit
        self._held: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def in_flight(self, key: str) -> int:
        return self._held.get(key, 0)

    def try_acquire(self, key: str) -> bool:
        if self._held.get(key, 0) >= self.limit or self._waiting.get(key):
            return False
        self._held[key] = self._held.get(key, 0) + 1
        return True

    async def acquire(self, key: str, timeout_s: float) -> bool:
        """Take a slot, waiting at most `timeout_s` for one to be given back. False when none came."""
        if self.try_acquire(key):
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(turn)
        try:
            await asyncio.wait_for(turn, timeout_s)
        except TimeoutError:
            return False
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release(key)  # a slot came as the wait was cancelled: pass it on
            raise
        finally:
            queue = self._waiting.get(key)
            if queue is not None and turn in queue:
                queue.remove(turn)
            if queue is not None and not queue:
                del self._waiting[key]
        return True

    def release(self, key: str) -> None:
        """Give a slot back: to the first caller still waiting for one, else to the pool."""
        queue = self._waiting.get(key)
        while queue:
            turn = queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        held = self._held.get(key, 0) - 1
        if held > 0:
            self._held[key] = held
        else:
            self._held.pop(key, None)
