"""The classic dual write, as the baseline: one request writes the sale to MySQL, commits, then writes it
to MongoDB. When the second write fails the first stays, and the two stores disagree.

Run: `python -m bench.naive_dual_write` with MYSQL_URL, MYSQL_DATABASE, MONGO_URL, MONGO_DATABASE, PORT.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import uvicorn
from bson import ObjectId
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pymongo import MongoClient
from sqlalchemy.engine import make_url

from bench import data
from supply_common.contract import METADATA_FIELD, Sale, SaleBody, canonical, sale_hash, to_document
from supply_common.contract.codec import decimal_text


class Pool:
    """A small pool of PyMySQL connections (one per worker thread in use)."""

    def __init__(self, url: str, database: str, size: int = 40) -> None:
        parsed = make_url(url)
        self.options = {
            "host": parsed.host or "127.0.0.1",
            "port": parsed.port or 3306,
            "user": parsed.username,
            "password": parsed.password or "",
            "database": database,
            "charset": "utf8mb4",
            "connect_timeout": 3,
            "read_timeout": 10,
            "write_timeout": 10,
        }
        self.idle: queue.LifoQueue[Any] = queue.LifoQueue(maxsize=size)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        try:
            connection = self.idle.get_nowait()
        except queue.Empty:
            connection = pymysql.connect(**self.options)
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        try:
            self.idle.put_nowait(connection)
        except queue.Full:
            connection.close()


def build_app() -> FastAPI:
    pool = Pool(os.environ["MYSQL_URL"], os.environ["MYSQL_DATABASE"])
    mongo = MongoClient(
        os.environ["MONGO_URL"], serverSelectionTimeoutMS=2000, connectTimeoutMS=2000, socketTimeoutMS=5000
    )
    collection = mongo[os.environ["MONGO_DATABASE"]]["sales"]
    double_money = "ferretdbVersion" in mongo.admin.command("buildInfo")
    app = FastAPI(title="naive dual write")

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/sales", status_code=201)
    def create(body: SaleBody) -> Any:
        sale = Sale.model_validate({"_id": str(ObjectId()), **body.model_dump()})
        rows = data.mysql_rows(canonical(sale))
        with pool.connection() as connection:
            with connection.cursor() as cursor:
                cursor.execute(data.INSERT_SALE, rows["sale"])
                cursor.executemany(data.INSERT_ITEMS, rows["items"])
                cursor.executemany(data.INSERT_TAGS, rows["tags"])
            connection.commit()
        document = to_document(sale)
        if double_money:
            for item in document["items"]:
                item["price"] = float(decimal_text(item["price"].to_decimal()))
        document[METADATA_FIELD] = {"version": 1, "hash": sale_hash(sale)}
        try:
            collection.insert_one(document)
        except Exception as exc:  # noqa: BLE001 - the classic handler reports and moves on
            return JSONResponse({"detail": f"MongoDB write failed: {type(exc).__name__}"}, status_code=500)
        return {"id": sale.id, "version": 1}

    return app


if __name__ == "__main__":
    uvicorn.run(
        "bench.naive_dual_write:build_app",
        factory=True,
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "18010")),
        log_level="warning",
        access_log=False,
        limit_concurrency=1000,
    )
