"""Run a service's FastAPI app under uvicorn the same way in every service."""

from __future__ import annotations

import uvicorn

from supply_common.logs import configure_logging
from supply_common.settings import ServiceSettings


def run_app(app_factory: str, settings: ServiceSettings, service: str, workers: int = 1) -> None:
    """`app_factory` is an import string of a zero-argument function returning the app."""
    configure_logging(service, settings.log_level)
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
