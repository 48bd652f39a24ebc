"""Run a service's FastAPI app under uvicorn the same way in every service."""

from __future__ import annotations

import sys

import uvicorn

from supply_common.logs import configure_logging
from supply_common.settings import ServiceSettings

SWITCH_INTERVAL_S = 0.0005
"""How long a thread may hold the GIL while another waits. Request threads make many short database
round trips; with Python's default (5 ms) a thread whose reply has arrived can wait that long for
the event loop or a busy thread to let go, once per round trip. Shorter hand-offs cut the queueing
of concurrent creates (measured with `make bench`, row 2)."""


def run_app(app_factory: str, settings: ServiceSettings, service: str, workers: int = 1) -> None:
    """`app_factory` is an import string of a zero-argument function returning the app."""
    configure_logging(service, settings.log_level)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        limit_concurrency=1000,
    )
