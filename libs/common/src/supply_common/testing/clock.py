"""A clock that moves only when a test moves it, for code that takes its clock as a callable returning
seconds (`time.monotonic`, `time.time`)."""

from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
