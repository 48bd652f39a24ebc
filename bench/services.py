"""The services as processes of the bench's own, on their own ports, against throwaway databases and topics;
and the sampler that records each process's peak RSS."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import threading
from pathlib import Path
from typing import Self

import psutil

from supply_common.processes import Process
from supply_common.testing.stack import repo_root

PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18000"))
PORTS = {
    "gateway": PORT_BASE,
    "auth": PORT_BASE + 1,
    "sales-writer": PORT_BASE + 2,
    "mongo-projector": PORT_BASE + 3,
    "relay-notices": PORT_BASE + 4,
    "projector-metrics": PORT_BASE + 5,
    "relay-metrics": PORT_BASE + 6,
}
NAIVE_PORT = PORT_BASE + 10
SET_STRIDE = 20
"""Ports of the n-th set of services running side by side (`ports(n)`) start `n * SET_STRIDE` above
`PORTS`, clear of the naive dual write's."""


def ports(index: int) -> dict[str, int]:
    """The ports of the `index`-th set of services that run side by side (0: `PORTS`)."""
    return {name: port + index * SET_STRIDE for name, port in PORTS.items()}


class ServiceMissing(Exception):
    """The service (or the command the row needs) is not in this checkout yet."""


def executable(cli: str) -> Path:
    return repo_root() / ".venv" / "bin" / cli


@functools.cache
def commands_of(cli: str) -> frozenset[str]:
    """The sub-commands a service's CLI offers (empty if the CLI is not installed)."""
    path = executable(cli)
    if not path.exists():
        return frozenset()
    try:
        out = subprocess.run(  # noqa: S603 - our own entry point
            [str(path), "--help"], capture_output=True, text=True, timeout=60, check=False, env=_plain_env()
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    names = set()
    for line in out.stdout.splitlines():
        stripped = line.strip("│ \t")
        if stripped:
            names.add(stripped.split()[0])
    return frozenset(names)


def require(cli: str, *commands: str) -> None:
    missing = [command for command in commands if command not in commands_of(cli)]
    if missing:
        raise ServiceMissing(f"{cli} {' '.join(missing)}")


def _plain_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


class RssSampler:
    """Samples the resident set size of registered processes twice a second. A process counts with
    its children (a service with several workers is all of them): `peaks_mb` holds the peak of the
    sum, `largest_process_mb` the peak of the largest single process."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.peaks_mb: dict[str, float] = {}
        self.largest_process_mb: dict[str, float] = {}
        self.processes: dict[str, int] = {}
        self._watched: dict[str, list[psutil.Process]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def watch(self, name: str, pid: int) -> None:
        with self._lock, contextlib.suppress(psutil.Error):
            self._watched.setdefault(name, []).append(psutil.Process(pid))

    def sample(self) -> None:
        with self._lock:
            watched = {name: list(processes) for name, processes in self._watched.items()}
        for name, processes in watched.items():
            for process in processes:
                try:
                    tree = [process, *process.children(recursive=True)]
                except psutil.Error:
                    continue
                sizes = []
                for member in tree:
                    with contextlib.suppress(psutil.Error):
                        sizes.append(member.memory_info().rss / 2**20)
                if not sizes:
                    continue
                self.peaks_mb[name] = max(self.peaks_mb.get(name, 0.0), sum(sizes))
                self.largest_process_mb[name] = max(self.largest_process_mb.get(name, 0.0), max(sizes))
                self.processes[name] = max(self.processes.get(name, 0), len(sizes))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()


class ServiceProcess(Process):
    """A process of the bench's, whose memory the run's sampler may watch."""

    def start(self, sampler: RssSampler | None = None, kind: str = "") -> Self:
        super().start()
        if sampler is not None:
            sampler.watch(kind or self.name, self.pid)
        return self


def run_command(
    argv: list[str], env: dict[str, str], log_file: Path, timeout_s: float = 120.0, stdin: str | None = None
) -> None:
    """A one-shot command (a migration, creating a user); its output goes to the log, failures raise."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        done = subprocess.run(  # noqa: S603 - our own entry points
            argv,
            env=env,
            cwd=repo_root(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
            input=stdin.encode() if stdin is not None else None,
        )
    if done.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({done.returncode}): {tail}")
