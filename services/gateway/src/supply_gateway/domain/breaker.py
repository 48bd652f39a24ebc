"""A consecutive-failure circuit breaker, one per upstream."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `cooldown_s` lets one trial call through
    (half-open): its success closes the circuit, its failure opens it again."""

    def __init__(
        self, threshold: int = 5, cooldown_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return State.CLOSED
        if self.clock() - self._opened_at >= self.cooldown_s:
            return State.HALF_OPEN
        return State.OPEN

    def allow(self) -> bool:
        """May a call go out now? In half-open only one trial call at a time."""
        state = self.state
        if state is State.CLOSED:
            return True
        if state is State.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def retry_after_s(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock() - self._opened_at))

    def record_success(self) -> None:
        self.failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        if self._trial_in_flight or self.failures >= self.threshold:
            self._opened_at = self.clock()
        self._trial_in_flight = False

    def release(self) -> None:
        """A call that went out ended with neither verdict (the client went away, say)."""
        self._trial_in_flight = False
