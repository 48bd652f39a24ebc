"""Fault injection: signals to the services' processes, and stop/start/kill of the shared servers."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness import Deployment, Process

from supply_common.testing.stack import stack_command

STACK_COMPONENTS = ("mariadb", "kafka", "ferretdb")


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

    def signal(self, name: str, sig: signal.Signals) -> None:
        process = self.process(name)
        assert process.popen is not None, f"{name} was never started"
        assert process.running, f"{name} is not running"
        os.killpg(process.popen.pid, sig)
        self._note(f"{sig.name} {name} (pid {process.popen.pid})")

    def kill(self, name: str) -> None:
        """SIGKILL, then reap, so that `running` is false at once."""
        self.signal(name, signal.SIGKILL)
        process = self.process(name)
        assert process.popen is not None
        process.popen.wait(10)

    def pause(self, name: str) -> None:
        self.signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.signal(name, signal.SIGCONT)

    def restart(self, name: str, timeout_s: float = 60.0, **env: str) -> None:
        """Start it again (stopping it first if it still runs), with env changes if given."""
        process = self.process(name)
        if process.running:
            process.stop()
        elif process.popen is not None:
            process.popen.wait(10)
            process.popen = None
        process.env.update(env)
        process.start()
        process.wait_ready(timeout_s)
        self._note(f"restart {name}")

    def stack(self, action: str, component: str) -> float:
        """`deploy/local/stack stop|start|kill NAME`; returns how long it took."""
        assert component in STACK_COMPONENTS
        started = time.monotonic()
        stack_command(action, component)
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
