"""The sales-writer's tables in a throwaway database: its own Alembic migration (run in this process, which
is quicker than its CLI), else its table metadata."""

from __future__ import annotations

import importlib

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench.context import Context
from bench.services import ServiceMissing, commands_of


def sales_database(ctx: Context, suffix: str) -> str:
    name = ctx.mysql_database(suffix)
    url = make_url(ctx.stack.mysql_url).set(database=name).update_query_dict({"charset": "utf8mb4"})
    try:
        migrate = importlib.import_module("supply_sales_writer.adapters.migrate")
    except ImportError:
        migrate = None
    if migrate is not None and hasattr(migrate, "upgrade"):
        ctx.step(f"migrating {name}")
        engine = create_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        return name
    if "migrate" in commands_of("sales-writer"):
        ctx.step(f"migrating {name}")
        ctx.command(f"migrate-{suffix}", "sales-writer", ["migrate"], mysql_database=name)
        return name
    try:
        schema = importlib.import_module("supply_sales_writer.adapters.schema")
    except ImportError as exc:
        raise ServiceMissing("sales-writer schema") from exc
    engine = create_engine(url)
    try:
        schema.metadata.create_all(engine)
    finally:
        engine.dispose()
    return name
