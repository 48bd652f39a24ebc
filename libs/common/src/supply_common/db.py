"""MySQL engine factory shared by the services that own a MySQL database."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text

from supply_common.settings import MySQLSettings


def make_engine(settings: MySQLSettings, **overrides: object) -> Engine:
    """A pooled PyMySQL engine that fails fast when the server is away (connect/read timeouts),
    checks connections before use, and recycles them before the server would drop them."""
    options: dict[str, object] = {
        "pool_size": settings.mysql_pool_size,
        "max_overflow": settings.mysql_pool_size,
        "pool_timeout": 5,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {
            "connect_timeout": settings.mysql_connect_timeout_s,
            "read_timeout": 10,
            "write_timeout": 10,
        },
    }
    options.update(overrides)
    return create_engine(settings.database_url(), **options)


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
