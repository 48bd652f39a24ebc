"""Fault injection: signals to the services' processes, and stop/start/kill of the shared servers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from supply_common.testing.deployment import Deployment, Process, stack


@dataclass
class Faults:
    """Every fault goes through here, so that a scenario can report what it injected."""

    deployment: Deployment
    injected: list[str] = field(default_factory=list)

    def _note(self, what: str) -> None:
        self.injected.append(what)
        print(f"  fault: {what}", flush=True)

    def process(self, name: str) -> Process:
        return self.deployment.processes[name]

    def kill(self, name: str) -> None:
        self._note(f"SIGKILL {name} (pid {self.process(name).kill()})")

    def pause(self, name: str) -> None:
        self._note(f"SIGSTOP {name} (pid {self.process(name).pause()})")

    def resume(self, name: str) -> None:
        self._note(f"SIGCONT {name} (pid {self.process(name).resume()})")

    def restart(self, name: str, timeout_s: float = 60.0, **env: str) -> None:
        self.deployment.restart(name, timeout_s, **env)
        self._note(f"restart {name}")

    def kill_repeatedly(self, name: str, times: int, every_s: float = 2.0, down_s: float = 0.5) -> None:
        """SIGKILL the process every `every_s` (under a running load) and start it again after `down_s`."""
        for _ in range(times):
            time.sleep(every_s)
            self.kill(name)
            time.sleep(down_s)
            self.restart(name)

    def stack(self, action: str, component: str) -> float:
        """`deploy/local/stack stop|start|kill NAME`; returns how long it took."""
        started = time.monotonic()
        stack(action, component)
        elapsed = time.monotonic() - started
        self._note(f"stack {action} {component} ({elapsed:.1f} s)")
        return elapsed

    @contextlib.contextmanager
    def outage(self, component: str, action: str = "stop") -> Iterator[None]:
        """The server is down inside the block and started again however the block ends."""
        self.stack(action, component)
        try:
            yield
        finally:
            self.stack("start", component)

    @contextlib.contextmanager
    def paused(self, name: str) -> Iterator[None]:
        self.pause(name)
        try:
            yield
        finally:
            self.resume(name)
