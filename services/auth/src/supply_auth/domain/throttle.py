"""Login throttling policy: how long a subject (an account or a client address) must wait after
failures. Pure arithmetic on counts and times; the adapter stores the counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limits:
    slowdown_after: int
    lock_after: int


@dataclass(frozen=True)
class Attempts:
    """One subject's counter: `failures` counted since `window_started_at`, and the end of its wait."""

    failures: int
    window_started_at: datetime
    blocked_until: datetime | None

    def blocked_at(self, now: datetime) -> bool:
        return self.blocked_until is not None and self.blocked_until > now


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

    def count(self, attempts: Attempts, limits: Limits, now: datetime) -> Attempts:
        """The counter with one more attempt at `now`: a lapsed window starts again at 1, and the wait
        the new count earns runs from now (it never shortens a wait already running)."""
        if attempts.window_started_at < now - timedelta(seconds=self.window_s):
            failures, started = 1, now
        else:
            failures, started = attempts.failures + 1, attempts.window_started_at
        blocked = attempts.blocked_until
        wait = self.wait_after(failures, limits)
        if wait:
            until = now + timedelta(seconds=wait)
            blocked = until if blocked is None or until > blocked else blocked
        return Attempts(failures, started, blocked)
