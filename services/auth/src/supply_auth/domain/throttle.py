"""Login throttling policy: how long a subject (one account from one client address, one account from
every address, or one address against every account) must wait after failures. Pure arithmetic on
counts and times; the adapter stores the counters."""

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
    account_address: Limits
    """One account from one client address: slows down, then locks (that address only)."""
    account: Limits
    """One account from every address: slows down, then locks, but only addresses the account never
    signed in from; a known address waits at most `known_address_delay_max_s`, inside its request."""
    address: Limits
    """One client address against every account: slows down, then locks."""
    slowdown_base_s: int
    lock_base_s: int
    lock_max_s: int
    known_address_delay_max_s: int = 2

    def known_address_delay(self, account: Attempts, now: datetime) -> float:
        """Seconds a sign-in from one of the account's known addresses is held while the account-wide
        count asks for a wait: the rest of that wait, never more than `known_address_delay_max_s`.
        Never a refusal, so failures from elsewhere cannot keep the owner out."""
        if not account.blocked_at(now):
            return 0.0
        assert account.blocked_until is not None
        return min((account.blocked_until - now).total_seconds(), float(self.known_address_delay_max_s))

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
