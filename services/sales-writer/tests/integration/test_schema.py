"""The migrated database against what the code expects of it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

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
