"""Run a service's FastAPI app under uvicorn (`run_app`), or a process without one (`run_worker`), the
same way in every service.

With `WORKERS` above one, uvicorn's supervisor starts that many server processes on the shared
socket and replaces any that dies. Two things make the processes one service: Prometheus metrics
are kept in a directory all of them write (each `/metrics` answer adds them up), and every worker
ends with its supervisor, even a supervisor killed with SIGKILL, so that no orphan keeps the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

import uvicorn
from prometheus_client import start_http_server

from supply_common import tracing
from supply_common.logs import configure_logging
from supply_common.settings import ServiceSettings

SWITCH_INTERVAL_S = 0.0005
"""How long a thread may hold the GIL while another waits. Request threads make many short database
round trips; with Python's default (5 ms) a thread whose reply has arrived can wait that long for
the event loop or a busy thread to let go, once per round trip. Shorter hand-offs cut the queueing
of concurrent creates (measured with `make bench`, row 2)."""

SUPERVISOR_ENV = "SUPPLY_SUPERVISOR_PID"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1


def freeze_heap() -> None:
    """Collect once, then leave every object alive now (modules, the app, its models, settings,
    clients) out of later garbage collections, which otherwise walk all of them each time and pause
    whatever the process serves. Call it when start-up is done, in the process that serves."""
    gc.collect()
    gc.freeze()


def run_app(app_factory: str, settings: ServiceSettings, service: str) -> None:
    """`app_factory` is an import string of a zero-argument function returning the app."""
    configure_logging(service, settings.log_level)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    with _supervising(service, settings.workers):
        uvicorn.run(
            app_factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=10,
            limit_concurrency=1000,
        )


@contextlib.contextmanager
def _supervising(service: str, workers: int) -> Iterator[None]:
    """For several workers: a fresh shared metrics directory (removed at the end) and the pid the
    workers watch. Set before uvicorn spawns them; the supervisor itself serves nothing."""
    if workers == 1:
        yield
        return
    metrics_dir = tempfile.mkdtemp(prefix=f"supply-{service}-metrics-")
    os.environ[METRICS_DIR_ENV] = metrics_dir
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    try:
        yield
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def follow_supervisor() -> None:
    """In a worker process: receive SIGTERM (a graceful stop) when the supervisor ends, however it
    ends. Does nothing in a single-process server or outside Linux."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or int(supervisor) == os.getpid() or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != int(supervisor):  # it was gone before the request above took effect
        os.kill(os.getpid(), signal.SIGTERM)


class Closing(Protocol):
    def close(self) -> None: ...


Built = TypeVar("Built", bound=Closing)


def run_worker(
    service: str,
    settings: ServiceSettings,
    metrics_port: int,
    build: Callable[[], Built],
    work: Callable[[Built], Coroutine[Any, Any, None]],
) -> None:
    """Run a process without an HTTP API (a consumer, the relay) the same way in every service: its
    logs and traces as `service`, metrics on `metrics_port`; then
    `build()` wires it, the heap is frozen, and `work` runs on what was built until it returns (on
    SIGTERM). What was built is closed and the traces flushed however `work` ends."""
    configure_logging(service, settings.log_level)
    serve_metrics(metrics_port, settings.host)
    tracing.start(service)
    try:
        built = build()
        freeze_heap()
        try:
            asyncio.run(work(built))
        finally:
            built.close()
    finally:
        tracing.stop()


def serve_metrics(port: int, host: str) -> bool:
    """Prometheus metrics of a process without an HTTP API (a consumer, the relay) on their own port;
    0 means none. A port already taken is logged, and the process goes on without it."""
    if not port:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "metrics port unavailable; going on without it", extra={"port": port, "error": str(exc)}
        )
        return False
    return True
