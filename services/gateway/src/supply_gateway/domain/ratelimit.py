"""Token buckets kept in memory, one per key (a client address or a user id)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """`rate_per_s` tokens are added each second up to `burst`; each request takes one."""

    rate_per_s: float
    burst: int

    @classmethod
    def per_minute(cls, count: float, burst: int) -> Limit:
        return cls(count / 60.0, burst)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Token-bucket limiter. Memory is bounded: the least recently seen keys are forgotten first."""

    def __init__(self, limit: Limit, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, key: str) -> Decision:
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate_per_s)
        if tokens >= 1.0:
            self._remember(key, tokens - 1.0, now)
            return Decision(True)
        self._remember(key, tokens, now)
        wait = (1.0 - tokens) / self.limit.rate_per_s if self.limit.rate_per_s > 0 else 3600.0
        return Decision(False, max(1, math.ceil(wait)))

    def _remember(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
