"""Login throttling policy: how long a subject (an account or a client address) must wait after
failures. Pure arithmetic on counts and seconds; the adapter stores the counters."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    slowdown_after: int
    lock_after: int


@dataclass(frozen=True)
class ThrottlePolicy:
    window_s: int
    account: Limits
    address: Limits
    slowdown_base_s: int
    lock_base_s: int
    lock_max_s: int

    def wait_after(self, failures: int, limits: Limits) -> int:
        """Seconds the subject must wait before its next attempt, after `failures` failures in the window.

        Below `slowdown_after`: none. Then `slowdown_base_s` doubling per failure (slow down). From
        `lock_after`: a lock of `lock_base_s` doubling per further failure, never above `lock_max_s`.
        """
        if failures < limits.slowdown_after:
            return 0
        if failures < limits.lock_after:
            return min(self.slowdown_base_s * 2 ** (failures - limits.slowdown_after), self.lock_base_s)
        return min(self.lock_base_s * 2 ** min(failures - limits.lock_after, 20), self.lock_max_s)
