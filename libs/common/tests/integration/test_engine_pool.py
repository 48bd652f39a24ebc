"""The shared engine's pool against a real MariaDB: idle connections are checked, and a commit is
not followed by a second reset round trip."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from supply_common import db
from supply_common.settings import MySQLSettings

pytestmark = pytest.mark.integration


def _engine(mysql_url: str, database: str, monkeypatch: pytest.MonkeyPatch, idle_s: float):
    monkeypatch.setattr(db, "IDLE_PING_S", idle_s)
    settings = MySQLSettings(mysql_url=mysql_url, mysql_database=database, mysql_pool_size=1)
    return db.make_engine(settings, max_overflow=0)


def _connection_id(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()


def _kill(engine, victim: int) -> None:
    """End a connection from the server's side, as a server restart or idle timeout would."""
    other = create_engine(engine.url, poolclass=NullPool)
    with other.connect() as connection:
        connection.execute(text(f"KILL CONNECTION {victim}"))
    other.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced_without_an_error(
    mysql_url: str, fresh_mysql_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(mysql_url, fresh_mysql_database("pool"), monkeypatch, idle_s=0.2)
    first = _connection_id(engine)
    _kill(engine, first)
    time.sleep(0.4)
    second = _connection_id(engine)
    engine.dispose()
    assert second != first


def test_a_connection_used_a_moment_ago_is_not_pinged_and_commit_sends_no_reset(
    mysql_url: str, fresh_mysql_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(mysql_url, fresh_mysql_database("pool"), monkeypatch, idle_s=60)
    _connection_id(engine)
    sent: list[str] = []
    raw = engine.raw_connection()
    pymysql_class = type(raw.dbapi_connection)
    raw.close()
    original_ping, original_rollback = pymysql_class.ping, pymysql_class.rollback

    def ping(self, *args, **kwargs):
        sent.append("PING")
        return original_ping(self, *args, **kwargs)

    def rollback(self):
        sent.append("ROLLBACK")
        return original_rollback(self)

    monkeypatch.setattr(pymysql_class, "ping", ping)
    monkeypatch.setattr(pymysql_class, "rollback", rollback)
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append("STATEMENT"))
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.commit()
    engine.dispose()
    assert sent == ["STATEMENT"]
