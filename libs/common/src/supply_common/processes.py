"""The Supply Store's processes, in one table: what each runs, its port, its environment on a local run,
and how it says it is ready. `deploy/local/run` starts them all as they are here; the test deployment
(`supply_common.testing.deployment`) and the bench (`bench/services.py`) take the commands and readiness
from here and choose their own ports and stores.

Also the handle they share (`Process`): a process started as the leader of a process group of its own,
its output in a log file, ready when its readiness path answers, stopped with its whole group (SIGTERM,
then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

READY_PATH = "/readyz"


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the system. `argv` starts with a workspace console script; `port` is its HTTP
    port on a local run (`None`: it serves no HTTP and is ready once it runs); `env` is what a local run
    sets beside `PORT`."""

    name: str
    argv: tuple[str, ...]
    port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str | None = READY_PATH

    def __post_init__(self) -> None:
        if self.port is None and self.ready_path is not None:
            object.__setattr__(self, "ready_path", None)

    @property
    def local_env(self) -> dict[str, str]:
        """The environment of a local run: `env`, with `PORT` where it serves HTTP."""
        return {**self.env, **({"PORT": str(self.port)} if self.port is not None else {})}


RELAY_WAKE = {"RELAY_WAKE_ADDRESS": "127.0.0.1:8012"}
"""One outbox relay in its own process for all the sales-writer's server processes, woken by their
commit notices (UDP)."""

PROCESSES: dict[str, ProcessSpec] = {
    spec.name: spec
    for spec in (
        # Auth's outbox relay (its account events) runs inside `auth serve`: a handful of changes a
        # minute needs no process of its own (services/auth/README.md, "Account events").
        ProcessSpec("auth", ("auth", "serve"), 8001),
        # WORKERS=auto: the request path is CPU-bound Python, so one server process per core less the
        # one the servers and the other services need, up to 4 (docs/README.md, "Server processes").
        ProcessSpec(
            "sales-writer",
            ("sales-writer", "serve"),
            8002,
            {"WORKERS": "auto", "RELAY_ENABLED": "false", **RELAY_WAKE},
        ),
        ProcessSpec("sales-writer-relay", ("sales-writer", "relay"), None, RELAY_WAKE),
        ProcessSpec("mongo-projector-consume", ("mongo-projector", "consume")),
        ProcessSpec("mongo-projector", ("mongo-projector", "serve"), 8003),
        ProcessSpec("gateway", ("gateway", "serve"), 8000),
    )
}
"""In start order; the gateway, which calls the others, last."""

SERVICE_CREDENTIALS: dict[str, tuple[str, ...]] = {
    # The panel's "repair this sale": the projector repairs with the gateway's credential, forwarded
    # to the sales-writer's digest and republish. `auth:client-address`: auth believes the client
    # address the gateway forwards only with it.
    "gateway": ("outbox:read", "copy:repair", "sales:digest", "sales:republish", "auth:client-address"),
    "reconcile": ("sales:digest", "sales:republish"),
}
"""The system's own callers that prove who they are with a service credential, and the scopes each needs:
operator routes (`/internal/...`), and the gateway vouching to auth for the client's address. A local run
issues each its credential at start (`.stack/service-tokens/<subject>.jwt`), and so do the test deployment
and compose's `service-credentials`."""


def launch(argv: Sequence[str], env: Mapping[str, str], log_file: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a process group of its own (so that its workers stop with it),
    output appended to `log_file`, no standard input."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - the workspace's own commands
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM to the process's group, SIGKILL if it has not ended within `timeout_s`; reaped either way."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def answers_ready(url: str, timeout_s: float = 2.0) -> bool:
    """Whether `url` (a readiness path) answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def log_tail(log_file: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(name: str, url: str | None, alive: Callable[[], bool], log_file: Path, timeout_s: float = 60.0) -> None:
    """Until `url` (its readiness path) answers 200; a process without one is ready once it is still
    running a moment after its start. Raises `RuntimeError` with the log's last lines when the process
    ends first or the time runs out."""
    if url is None:
        time.sleep(0.5)
        if not alive():
            raise RuntimeError(f"{name} exited at start:\n{log_tail(log_file)}")
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{name} exited before it was ready:\n{log_tail(log_file)}")
        if answers_ready(url):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready after {timeout_s:.0f} s:\n{log_tail(log_file)}")


@dataclass
class Process:
    """One started (or not yet started) process. `argv[0]` is a path or a command on PATH."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    cwd: Path | None = None
    ready_path: str | None = READY_PATH

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.popen.pid

    def start(self) -> Self:
        if not self.running:
            self.popen = launch(self.argv, self.env, self.log_path, self.cwd or Path.cwd())
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> Self:
        url = None if self.port is None or self.ready_path is None else f"{self.url}{self.ready_path}"
        wait_ready(self.name, url, lambda: self.running, self.log_path, timeout_s)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.popen is None:
            return
        stop_group(self.popen, timeout_s)
        self.popen = None

    def signal(self, sig: signal.Signals) -> int:
        """Send `sig` to the process group; returns the pid."""
        if self.popen is None or not self.running:
            raise RuntimeError(f"{self.name} is not running")
        os.killpg(self.popen.pid, sig)
        return self.popen.pid

    def kill(self) -> int:
        """SIGKILL, and reap it so that `running` is false at once."""
        pid = self.signal(signal.SIGKILL)
        assert self.popen is not None
        self.popen.wait(10)
        return pid

    def pause(self) -> int:
        return self.signal(signal.SIGSTOP)

    def resume(self) -> int:
        return self.signal(signal.SIGCONT)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)
