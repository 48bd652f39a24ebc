"""`/livez`, `/readyz` (probes of real dependencies) and `/metrics` of a service's app."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from supply_common.serve import METRICS_DIR_ENV


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe of a real dependency. `critical` failures make /readyz answer 503; others report
    `degraded` and keep the service in rotation (a relay behind a down broker, say)."""

    name: str
    probe: Callable[[], Awaitable[object]]
    critical: bool = True
    timeout_s: float = 2.0


async def _run_check(check: ReadinessCheck) -> tuple[str, str, bool]:
    try:
        result = await asyncio.wait_for(check.probe(), check.timeout_s)
    except Exception as exc:  # noqa: BLE001 - any failure of a probe is a "not ready"
        return check.name, f"error: {type(exc).__name__}: {str(exc)[:200]}", check.critical
    if result == "degraded":
        return check.name, "degraded", False
    return check.name, "ok", False


def install_health(app: FastAPI, checks: Sequence[ReadinessCheck] | Callable[[], Sequence[ReadinessCheck]]) -> None:
    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        current = checks() if callable(checks) else checks
        results = await asyncio.gather(*(_run_check(check) for check in current))
        failed = any(critical for _, _, critical in results)
        status = "unready" if failed else ("degraded" if any(r != "ok" for _, r, _ in results) else "ready")
        return JSONResponse(
            {"status": status, "checks": {name: result for name, result, _ in results}},
            status_code=503 if failed else 200,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(_metrics_registry()), media_type=CONTENT_TYPE_LATEST)


def _metrics_registry() -> CollectorRegistry:
    """This process's metrics, or with several workers those of all of them, added up."""
    if not os.environ.get(METRICS_DIR_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
