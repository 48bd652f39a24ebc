"""Rows written by `BulkInsert` read back exactly, whatever they hold and however many statements
they take; `PendingWrites` keeps a transaction's order and atomicity while sending its INSERTs
together (in one compound statement, or one by one where the server has no anonymous blocks)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    event,
    func,
    select,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError

from supply_sales_writer.adapters import bulk
from supply_sales_writer.adapters.bulk import BulkInsert, PendingWrites, compound_for
from supply_sales_writer.bootstrap import Container

from .conftest import EVERY_INSERT_MODE

pytestmark = [pytest.mark.integration, EVERY_INSERT_MODE]

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
def table(container: Container) -> Table:
    probe.create(container.engine)
    return probe


def _pending(container: Container, connection: Connection) -> PendingWrites:
    """Pending writes sent the way the container under test sends them."""
    return PendingWrites(connection, compound=compound_for(connection, container.settings.mysql_insert_mode))


def _insert(container: Container, connection: Connection, rows: list[tuple[object, ...]], *columns: str) -> None:
    writes = _pending(container, connection)
    writes.add(BulkInsert(probe, *columns).render(connection, rows))
    writes.flush()


def _stored(container: Container) -> list[tuple[object, ...]]:
    with container.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(probe).order_by(probe.c.n))]


def test_awkward_values_read_back_exactly(container: Container, table: Table) -> None:
    moment = datetime(2015, 3, 23, 21, 6, 49, 506000)
    rows = [(n, text, text.encode(), Decimal("0.10"), moment, n % 2 == 0) for n, text in enumerate(AWKWARD)]
    rows += [
        (100, None, bytes(range(256)), Decimal("9999999999.99"), None, None),
        (101, "", b"", Decimal("0"), datetime(1970, 1, 1), False),
    ]
    with container.engine.begin() as connection:
        _insert(container, connection, rows)
    assert _stored(container) == rows


def test_values_that_compare_equal_keep_their_own_text(container: Container, table: Table) -> None:
    # 1.5 == 1.50 == Decimal("1.500"), True == 1: each is still rendered as itself.
    rows = [(1, Decimal("1.5"), True), (2, Decimal("1.50"), 1), (3, Decimal("1.500"), True)]
    with container.engine.begin() as connection:
        _insert(container, connection, rows, "n", "text", "flag")
    assert [(n, text, flag) for n, text, _, _, _, flag in _stored(container)] == [
        (1, "1.5", True),
        (2, "1.50", True),
        (3, "1.500", True),
    ]


def test_rows_beyond_one_statement_go_out_in_several(
    container: Container, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_STATEMENT_BYTES", 400)
    monkeypatch.setattr(bulk, "MAX_PENDING_BYTES", 2000)
    sent: list[str] = []
    rows = [(n, f"row {n} it's 100%", None, Decimal(n), None, None) for n in range(200)]
    with container.engine.begin() as connection:
        statements = BulkInsert(table).render(connection, rows)
        writes = _pending(container, connection)
        monkeypatch.setattr(connection, "exec_driver_sql", _recording(connection.exec_driver_sql, sent))
        writes.add(statements)
        writes.flush()
    assert len(statements) > 10
    assert all(len(statement) <= 400 for statement in statements)
    if writes.compound:
        assert 1 < len(sent) < len(statements)  # several compound statements, each under the pending limit
        assert all(len(text) <= 2000 + 40 for text in sent)
    else:
        assert sent == statements  # one by one, in order
    assert _stored(container) == [(n, text, None, Decimal(f"{n}.00"), None, None) for n, text, *_ in rows]


def _recording(execute, sent: list[str]):
    def recording(statement: str, *args: object, **kwargs: object) -> object:
        sent.append(statement)
        return execute(statement, *args, **kwargs)

    return recording


def test_a_statement_after_pending_writes_sees_them(container: Container, table: Table) -> None:
    with container.engine.begin() as connection:
        writes = _pending(container, connection)
        writes.add(BulkInsert(table, "n", "text").render(connection, [(1, "a"), (2, "b")]))
        writes.add(BulkInsert(table, "n", "text").render(connection, [(3, "c")]))
        assert connection.execute(select(func.count()).select_from(probe)).scalar_one() == 3
        writes.add(BulkInsert(table, "n", "text").render(connection, [(4, "d")]))
        connection.execute(probe.delete().where(probe.c.n == 4))
        writes.flush()
    assert [row[0] for row in _stored(container)] == [1, 2, 3]


def test_a_failing_insert_fails_the_flush_and_the_rollback_takes_all_of_it(container: Container, table: Table) -> None:
    _insert_committed = [(1, "first")]
    with container.engine.begin() as connection:
        _insert(container, connection, _insert_committed, "n", "text")
    with container.engine.connect() as connection:
        connection.begin()
        writes = _pending(container, connection)
        writes.add(BulkInsert(table, "n", "text").render(connection, [(2, "fine")]))
        writes.add(BulkInsert(table, "n", "text").render(connection, [(1, "duplicate")]))
        with pytest.raises(IntegrityError):
            writes.flush()
        connection.rollback()
    assert [(row[0], row[1]) for row in _stored(container)] == [(1, "first")]


def test_discarded_writes_are_never_sent(container: Container, table: Table) -> None:
    with container.engine.begin() as connection:
        writes = _pending(container, connection)
        writes.add(BulkInsert(table, "n", "text").render(connection, [(1, "gone")]))
        writes.discard()
        connection.execute(select(1))
        writes.flush()
    assert _stored(container) == []


def test_a_transaction_that_writes_nothing_is_not_watched(container: Container, table: Table) -> None:
    with container.engine.begin() as connection:
        writes = _pending(container, connection)
        connection.execute(select(1))
        assert not event.contains(connection, "before_execute", writes._before_execute)
        writes.add(BulkInsert(table, "n", "text").render(connection, [(1, "a")]))
        assert event.contains(connection, "before_execute", writes._before_execute)
        assert connection.execute(select(func.count()).select_from(probe)).scalar_one() == 1


def test_separate_writes_send_plain_inserts_only(container: Container, table: Table) -> None:
    """What MySQL accepts: no anonymous block, each INSERT a statement of its own, in order."""
    sent: list[str] = []
    with container.engine.begin() as connection:
        writes = PendingWrites(connection, compound=False)
        writes.add(BulkInsert(table, "n", "text").render(connection, [(1, "a"), (2, "b")]))
        writes.add(BulkInsert(table, "n", "text").render(connection, [(3, "c")]))
        connection.exec_driver_sql = _recording(connection.exec_driver_sql, sent)  # type: ignore[method-assign]
        writes.flush()
    assert [statement.split(" VALUES ")[0] for statement in sent] == ["INSERT INTO bulk_probe (n, text)"] * 2
    assert [row[:2] for row in _stored(container)] == [(1, "a"), (2, "b"), (3, "c")]


def test_auto_sends_compound_statements_to_mariadb_only(container: Container) -> None:
    with container.engine.connect() as connection:
        assert connection.dialect.is_mariadb  # the servers these tests run on
        assert compound_for(connection, "auto")
        assert compound_for(connection, "compound")
        assert not compound_for(connection, "separate")
        mysql = SimpleNamespace(dialect=SimpleNamespace(is_mariadb=False))
        assert not compound_for(mysql, "auto")  # type: ignore[arg-type]
