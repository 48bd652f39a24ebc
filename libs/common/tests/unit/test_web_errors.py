from __future__ import annotations

import httpx
import pymysql
import pytest
from pymongo.errors import ServerSelectionTimeoutError
from sqlalchemy.exc import OperationalError

from supply_common.web import create_app


def _app(raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    app = create_app(service="test", title="test")

    @app.get("/mysql-away")
    def mysql_away() -> None:
        raise OperationalError("SELECT 1", {}, pymysql.err.OperationalError(2003, "Can't connect"))

    @app.get("/mongo-away")
    def mongo_away() -> None:
        raise ServerSelectionTimeoutError("no servers")

    @app.get("/other-database-error")
    def other_database_error() -> None:
        raise OperationalError("SELECT 1", {}, pymysql.err.OperationalError(1054, "Unknown column"))

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("bug")

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


@pytest.mark.parametrize("path", ["/other-database-error", "/bug"])
async def test_other_errors_stay_500s(path: str) -> None:
    async with _app(raise_app_exceptions=False) as client:
        response = await client.get(path)
    assert response.status_code == 500
