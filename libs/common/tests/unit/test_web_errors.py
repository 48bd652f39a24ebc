from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pymysql
import pytest
from fastapi.testclient import TestClient
from pymongo.errors import ServerSelectionTimeoutError
from sqlalchemy.exc import OperationalError

from supply_common.web import create_app


def _mysql_error(code: int, message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, message))


FAILURES: dict[str, Callable[[], Exception]] = {
    "mysql-away": lambda: _mysql_error(2003, "Can't connect"),
    "mongo-away": lambda: ServerSelectionTimeoutError("no servers"),
    "other-database-error": lambda: _mysql_error(1054, "Unknown column"),
    "bug": lambda: RuntimeError("bug"),
}
"""What an endpoint at `/<name>` raises."""


def _app(raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    app = create_app(service="test", title="test")

    @app.get("/{name}")
    def failing(name: str) -> None:
        raise FAILURES[name]()

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize("path", ["/mysql-away", "/mongo-away"])
async def test_an_unreachable_store_is_a_503_answered_inside_the_app(path: str) -> None:
    """Nothing escapes to the server, which would drop the keep-alive connection after answering."""
    async with _app() as client:
        response = await client.get(path)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_another_database_error_is_a_500_answered_inside_the_app() -> None:
    async with _app() as client:
        response = await client.get("/other-database-error")
    assert response.status_code == 500
    assert response.json()["title"] == "Internal error"
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["/other-database-error", "/bug"])
async def test_other_errors_stay_500s(path: str) -> None:
    async with _app(raise_app_exceptions=False) as client:
        response = await client.get(path)
    assert response.status_code == 500


def test_request_threads_caps_the_threads_that_run_plain_endpoints() -> None:
    app = create_app(service="test", title="test", request_threads=2)
    running = 0
    most = 0
    lock = threading.Lock()

    @app.get("/slow")
    def slow() -> dict[str, int]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return {"ok": 1}

    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.get("/slow").status_code, range(8)))
    assert answers == [200] * 8
    assert most == 2


def test_a_service_without_a_document_store_does_not_load_pymongo() -> None:
    """auth and the gateway build their apps from this module; pymongo costs them 4.5 MB and a
    quarter second of start-up for errors they cannot meet."""
    probe = "import sys; from supply_common.web import create_app; create_app(service='t', title='t');"
    probe += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymongo', 'bson')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
