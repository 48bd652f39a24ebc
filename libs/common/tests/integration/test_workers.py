"""A service served by several processes (`WORKERS`): one port, metrics added up over all workers,
a dead worker replaced, and no worker outliving its supervisor, even one killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "workers_app"
SERVE = (
    "from supply_common.serve import run_app\n"
    "from supply_common.settings import ServiceSettings\n"
    "run_app('demo_service:build_app', ServiceSettings(), 'demo')\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _workers(supervisor: psutil.Process) -> list[psutil.Process]:
    """The server processes (multiprocessing also starts a resource tracker, which serves nothing)."""
    return [p for p in supervisor.children() if "resource_tracker" not in " ".join(p.cmdline())]


def _wait(condition, timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def served() -> Iterator[tuple[psutil.Process, str]]:
    port = _free_port()
    env = {**os.environ, "WORKERS": "2", "PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(APP_DIR), env.get("PYTHONPATH")]))
    process = subprocess.Popen([sys.executable, "-c", SERVE], env=env, start_new_session=True)
    supervisor = psutil.Process(process.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _answers(f"{base}/readyz") and len(_workers(supervisor)) == 2, what="two ready workers")
        yield supervisor, base
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group: workers a failed test left behind too
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_requests_are_spread_over_the_workers_and_metrics_count_all_of_them(
    served: tuple[psutil.Process, str],
) -> None:
    supervisor, base = served
    pids = set()
    for _ in range(60):  # a new connection each time, so the kernel may hand it to either worker
        pids.add(httpx.get(f"{base}/pid").json()["pid"])
    metrics = httpx.get(f"{base}/metrics").text
    assert pids <= {p.pid for p in _workers(supervisor)}
    assert len(pids) == 2, f"all 60 connections went to one worker: {pids}"
    counted = [line for line in metrics.splitlines() if line.startswith("http_requests_total") and '"/pid"' in line]
    assert len(counted) == 1, counted
    assert float(counted[0].rsplit(" ", 1)[1]) == 60, counted


def test_a_killed_worker_is_replaced(served: tuple[psutil.Process, str]) -> None:
    supervisor, base = served
    victim = _workers(supervisor)[0]
    victim.kill()
    victim.wait(timeout=10)
    _wait(
        lambda: len([p for p in _workers(supervisor) if p.pid != victim.pid]) == 2 and _answers(f"{base}/readyz"),
        what="a replacement worker",
    )


def test_no_worker_outlives_a_supervisor_killed_with_sigkill(served: tuple[psutil.Process, str]) -> None:
    supervisor, base = served
    workers = _workers(supervisor)
    supervisor.kill()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"orphaned workers still running: {[p.pid for p in alive]}"
    assert not _answers(f"{base}/livez")
