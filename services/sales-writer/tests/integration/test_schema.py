"""The migrated database against what the code expects of it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from supply_sales_writer.adapters.migrate import upgrade
from supply_sales_writer.bootstrap import make_sales_engine
from supply_sales_writer.config import SalesWriterSettings

pytestmark = pytest.mark.integration


def test_the_outbox_is_kept_in_the_row_format_that_marks_rows_in_place(settings: SalesWriterSettings) -> None:
    engine = make_sales_engine(settings)
    try:
        with engine.connect() as connection:
            row_format = connection.execute(
                text(
                    "SELECT row_format FROM information_schema.tables"
                    " WHERE table_schema = DATABASE() AND table_name = 'outbox'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert row_format == "Redundant"


def test_migrating_to_per_user_keys_keeps_the_remembered_ones(
    settings: SalesWriterSettings, fresh_mysql_database
) -> None:
    older = settings.model_copy(update={"mysql_database": fresh_mysql_database("sales_0002")})
    engine = make_sales_engine(older)
    try:
        upgrade(engine, "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO idempotency_keys (idem_key, request_hash, sale_id, version, status_code, response,"
                    " created_at) VALUES ('k-1', REPEAT('a', 64), '5bd761dcae323e45a93ccfe8', 1, 201, '{}', NOW(3))"
                )
            )
        upgrade(engine)
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT user_id, idem_key FROM idempotency_keys")).all()
            keys = connection.execute(
                text(
                    "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = DATABASE()"
                    " AND table_name = 'idempotency_keys' AND constraint_name = 'PRIMARY' ORDER BY ordinal_position"
                )
            ).scalars()
            assert list(keys) == ["user_id", "idem_key"]
            connection.execute(
                text(
                    "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, sale_id, version, status_code,"
                    " response, created_at) VALUES ('worker-2', 'k-1', REPEAT('b', 64), '5bd761dcae323e45a93ccfe9',"
                    " 1, 201, '{}', NOW(3))"
                )
            )
    finally:
        engine.dispose()
    assert rows == [("", "k-1")]
