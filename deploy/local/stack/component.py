"""What a server process owned by the stack goes through: install, prepare, launch, probe and stop."""

# ruff: noqa: S603
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .host import (
    HOST,
    KILL_TIMEOUT,
    POLL_INTERVAL,
    STOP_TIMEOUT,
    StackError,
    env_int,
    file_size,
    port_open,
    proc_cmdline,
    tail,
    wait_gone,
)

if TYPE_CHECKING:
    from .stack import Stack


class Component:
    """A server process owned by this script: install, prepare, launch, probe and stop.

    A subclass declares itself in its class line, e.g. `class Kafka(Component, name="kafka",
    default_port=9092, port_env="STACK_KAFKA_PORT", ready_timeout=120.0)`, and sets up its own
    attributes in `setup`."""

    name: str
    default_port: int
    port_env: str
    """Variable that overrides `default_port` (empty: none)."""
    stop_signal: signal.Signals
    ready_timeout: float

    def __init_subclass__(
        cls,
        *,
        name: str,
        default_port: int,
        port_env: str = "",
        stop_signal: signal.Signals = signal.SIGTERM,
        ready_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = name
        cls.default_port = default_port
        cls.port_env = port_env
        cls.stop_signal = stop_signal
        cls.ready_timeout = ready_timeout

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.home = stack.root / self.name
        self.pid_file = stack.run_dir / f"{self.name}.pid"
        self.log_file = stack.log_dir / f"{self.name}.log"
        self.setup_log = stack.log_dir / f"{self.name}-setup.log"
        self.port = env_int(self.port_env, self.default_port) if self.port_env else self.default_port
        self.process: subprocess.Popen[bytes] | None = None
        self.launched_at = 0.0
        self.log_mark = 0
        self.setup()

    # -- to implement

    def setup(self) -> None:
        """Set the component's own attributes (the last step of __init__)."""

    def install(self) -> None:
        """Install what the component needs (idempotent)."""

    def prepare(self) -> None:
        """Create configuration and data before a launch (idempotent)."""

    def command(self) -> list[str]:
        """Command line of the server process."""
        raise NotImplementedError

    def owns(self, argv: list[str]) -> bool:
        """Whether a process command line is this component's server."""
        raise NotImplementedError

    def answers(self) -> bool:
        """Whether the server answers a real protocol request."""
        raise NotImplementedError

    def started(self) -> bool:
        """Whether the server is up far enough for after_ready (default: it answers)."""
        return self.answers()

    def after_ready(self) -> None:
        """Idempotent setup that needs the running server."""

    def launch_env(self) -> dict[str, str] | None:
        """Environment for the server process (None: inherit)."""
        return None

    def identity(self) -> dict[str, Any]:
        """subprocess arguments for the user and group to run the server as (empty: the current ones)."""
        return {}

    def ports(self) -> list[int]:
        """Ports the server listens on."""
        return [self.port]

    def server_logs(self) -> list[Path]:
        """Logs worth showing when the server fails."""
        return [self.log_file]

    def endpoint(self) -> str:
        """Address shown to the user."""
        return f"{HOST}:{self.port}"

    # -- shared behaviour

    def pid(self) -> int | None:
        """Pid of the running server started by this script, None if not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        argv = proc_cmdline(pid)
        return pid if argv is not None and self.owns(argv) else None

    def outdated(self, pid: int) -> str | None:
        """Why the running server `pid` is not what `up` would start now (None: it is): another command
        line (new flags, ports, paths) or a program file replaced since it started (a rebuild)."""
        if proc_cmdline(pid) != self.command():
            return "its command line changed"
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/exe").endswith(" (deleted)"):
                return "its program was rebuilt"
        return None

    def check_ports(self) -> None:
        """Fail if another process already listens on one of the server's ports."""
        for port in self.ports():
            if port_open(port):
                raise StackError(f"{self.name}: port {port} is already in use by a process this script did not start")

    def launch(self) -> None:
        """Start the server process in its own session, output to its log, and record its pid."""
        self.check_ports()
        self.stack.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_mark = file_size(self.log_file)
        self.mark_logs()
        with self.log_file.open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} stack: {shlex.join(self.command())}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.home,
                env=self.launch_env(),
                **self.identity(),
            )
        self.launched_at = time.monotonic()
        self.pid_file.write_text(f"{self.process.pid}\n")
        print(f"{self.name}: starting (pid {self.process.pid})", flush=True)

    def mark_logs(self) -> None:
        """Remember positions of other logs, so that readiness only looks at lines written after the launch."""

    def wait_ready(self) -> None:
        """Wait until the server has started, run after_ready, then wait until it answers."""
        timeout = float(os.environ.get("STACK_READY_TIMEOUT", "") or self.ready_timeout)
        start = self.launched_at or time.monotonic()
        self.poll_until(self.started, start + timeout, timeout)
        self.after_ready()
        self.poll_until(self.answers, start + timeout, timeout)
        if self.process is not None:
            print(f"{self.name}: ready on {self.endpoint()} ({time.monotonic() - start:.1f} s)", flush=True)

    def poll_until(self, condition: Callable[[], bool], deadline: float, timeout: float) -> None:
        """Poll a condition; raise with the log tails if the server exits or the deadline passes."""
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise StackError(
                    f"{self.name}: exited with {self.process.returncode} while starting\n{self.log_tails()}"
                )
            if self.process is None and self.pid() is None:
                raise StackError(f"{self.name}: stopped while waiting for it\n{self.log_tails()}")
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name}: not answering on {self.endpoint()} after {timeout:.0f} s\n{self.log_tails()}"
                )
            time.sleep(POLL_INTERVAL)

    def log_tails(self) -> str:
        """Tails of the server's logs, for error messages."""
        return "\n".join(tail(path) for path in self.server_logs())

    def stop(self, sig: signal.Signals | None = None, timeout: float = STOP_TIMEOUT) -> None:
        """Signal the recorded server process, wait for it to exit, escalate to SIGKILL, drop the pid file."""
        pid = self.pid()
        if pid is None:
            if self.pid_file.exists():
                self.pid_file.unlink()
                print(f"{self.name}: not running (removed stale pid file)")
            else:
                print(f"{self.name}: not running")
            return
        sig = sig or self.stop_signal
        started = time.monotonic()
        os.kill(pid, sig)
        if not wait_gone(pid, timeout if sig != signal.SIGKILL else KILL_TIMEOUT):
            if sig == signal.SIGKILL:
                raise StackError(f"{self.name}: pid {pid} survived SIGKILL")
            print(f"{self.name}: pid {pid} still running after {timeout:.0f} s, sending SIGKILL", flush=True)
            os.kill(pid, signal.SIGKILL)
            if not wait_gone(pid, KILL_TIMEOUT):
                raise StackError(f"{self.name}: pid {pid} survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)
        verb = "killed" if sig == signal.SIGKILL else "stopped"
        print(f"{self.name}: {verb} pid {pid} ({time.monotonic() - started:.1f} s)", flush=True)
