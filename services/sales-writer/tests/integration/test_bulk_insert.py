"""Rows written by `BulkInsert` read back exactly, whatever they hold and however many statements
they take."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import Boolean, Column, Integer, LargeBinary, MetaData, Numeric, String, Table, select
from sqlalchemy.dialects import mysql

from supply_sales_writer.adapters import bulk
from supply_sales_writer.adapters.bulk import BulkInsert
from supply_sales_writer.bootstrap import System

pytestmark = pytest.mark.integration

probe = Table(
    "bulk_probe",
    MetaData(),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("text", String(100, collation="utf8mb4_bin")),
    Column("data", LargeBinary),
    Column("price", Numeric(12, 2)),
    Column("moment", mysql.DATETIME(fsp=3)),
    Column("flag", Boolean),
)

AWKWARD = [
    "it's",
    'say "hi"',
    "back\\slash",
    "50% off",
    "%s",
    "%(x)s",
    "naïve ☃ 販売",
    "tab\tnew\nline",
    "\x00nul",
    "`--",
]


@pytest.fixture
def table(system: System) -> Table:
    probe.create(system.engine)
    return probe


def _stored(system: System) -> list[tuple[object, ...]]:
    with system.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(probe).order_by(probe.c.n))]


def test_awkward_values_read_back_exactly(system: System, table: Table) -> None:
    moment = datetime(2015, 3, 23, 21, 6, 49, 506000)
    rows = [(n, text, text.encode(), Decimal("0.10"), moment, n % 2 == 0) for n, text in enumerate(AWKWARD)]
    rows += [
        (100, None, bytes(range(256)), Decimal("9999999999.99"), None, None),
        (101, "", b"", Decimal("0"), datetime(1970, 1, 1), False),
    ]
    with system.engine.begin() as connection:
        BulkInsert(table)(connection, rows)
    assert _stored(system) == rows


def test_values_that_compare_equal_keep_their_own_text(system: System, table: Table) -> None:
    # 1.5 == 1.50 == Decimal("1.500"), True == 1: each is still rendered as itself.
    rows = [(1, Decimal("1.5"), True), (2, Decimal("1.50"), 1), (3, Decimal("1.500"), True)]
    with system.engine.begin() as connection:
        BulkInsert(table, "n", "text", "flag")(connection, rows)
    assert [(n, text, flag) for n, text, _, _, _, flag in _stored(system)] == [
        (1, "1.5", True),
        (2, "1.50", True),
        (3, "1.500", True),
    ]


def test_rows_beyond_one_statement_go_out_in_several(
    system: System, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_STATEMENT_BYTES", 400)
    statements: list[int] = []
    run = BulkInsert._run

    def counting(self: BulkInsert, connection, rendered: list[str]) -> None:
        statements.append(len(rendered))
        run(self, connection, rendered)

    monkeypatch.setattr(BulkInsert, "_run", counting)
    rows = [(n, f"row {n} it's 100%", None, Decimal(n), None, None) for n in range(200)]
    with system.engine.begin() as connection:
        BulkInsert(table)(connection, rows)
    assert _stored(system) == [(n, text, None, Decimal(f"{n}.00"), None, None) for n, text, *_ in rows]
    assert len(statements) > 10
    assert sum(statements) == 200
