"""The write path's INSERTs: rows rendered once per batch with the driver's own escaping, and the
statements of a transaction sent together (to MariaDB; one by one to MySQL).

A create writes a sale row, its item rows, a row per tag and an outbox row. PyMySQL's
`executemany` formats every row on its own (a parameter tuple, a `%` format, a type dispatch per
value). Here a batch's rows become one `VALUES` list where integers are written directly and each
distinct string or time (a sale id repeats on every item and tag row, tags and names come from a
small vocabulary, a batch has one commit time) is rendered once, by the driver
(`Cursor.mogrify`); the text sent is the same (what it saves: docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Table, bindparam, event, insert
from sqlalchemy.dialects.mysql import pymysql

from supply_sales_writer.config import InsertMode

MAX_STATEMENT_BYTES: Final = 1_024_000
"""Rows go out in statements of about this size (PyMySQL's own `executemany` limit)."""
MAX_PENDING_BYTES: Final = 4 * MAX_STATEMENT_BYTES
"""Pending statements are sent before they would make a compound statement longer than this, far
below MariaDB's `max_allowed_packet` (16 MiB by default) whatever a batch holds."""

_NO_PARAMETERS: Final = {"no_parameters": True}
"""The statements are complete: the driver must not treat `%` in the data as a placeholder."""


class BulkInsert:
    """`INSERT INTO table (columns) VALUES (...), (...)` statements for rows given as sequences of
    values in `columns` order (all of the table's columns by default). Values are what PyMySQL
    escapes as the column expects: str, int, bool, Decimal, bytes, naive UTC datetimes, None."""

    def __init__(self, table: Table, *columns: str) -> None:
        self.columns: tuple[str, ...] = columns or tuple(column.name for column in table.columns)
        statement = insert(table).values({name: bindparam(name) for name in self.columns})
        compiled = str(statement.compile(dialect=pymysql.dialect(paramstyle="format")))
        self.head = compiled[: compiled.index(" VALUES ")] + " VALUES "

    def render(self, connection: Connection, rows: Iterable[Sequence[Any]]) -> list[str]:
        """The statements that insert `rows` (none for no rows), each of about `MAX_STATEMENT_BYTES`
        at most."""
        render = connection.connection.cursor().mogrify
        known: dict[str | datetime, str] = {}
        statements: list[str] = []
        rendered: list[str] = []
        size = len(self.head)
        for row in rows:
            values: list[str] = []
            for value in row:
                kind = type(value)
                if kind is int:
                    values.append(str(value))
                elif kind is str or kind is datetime:  # equal values of these render alike
                    text = known.get(value)
                    if text is None:
                        text = known[value] = render("%s", (value,))
                    values.append(text)
                else:
                    values.append(render("%s", (value,)))
            row_text = "(" + ",".join(values) + ")"
            if rendered and size + len(row_text) + 1 > MAX_STATEMENT_BYTES:
                statements.append(self.head + ",".join(rendered))
                rendered, size = [], len(self.head)
            rendered.append(row_text)
            size += len(row_text) + 1
        if rendered:
            statements.append(self.head + ",".join(rendered))
        return statements


def compound_for(connection: Connection, mode: InsertMode) -> bool:
    """Whether `mode` sends compound statements on this connection's server."""
    if mode == "auto":
        return bool(getattr(connection.dialect, "is_mariadb", False))  # set by the MySQL dialect at connect
    return mode == "compound"


class PendingWrites:
    """The INSERTs of a transaction, sent together when the transaction commits.

    A create transaction is four INSERTs and a COMMIT; each round trip costs the writer a wait for
    MariaDB and, on its return, a wait for the GIL. With `compound` the INSERTs go out as one compound statement
    (`BEGIN NOT ATOMIC ... END`, a single statement for the protocol, no multi-statement mode
    needed): two round trips with the COMMIT. An error in any of them fails the compound
    statement with that error, and the transaction is rolled back as before. Without it (MySQL,
    which has no anonymous blocks) they go out one by one, still at the commit.

    Order is kept: once something is pending, any other statement on the connection (a read, an
    UPDATE, a DELETE) sends it first, so a transaction sees its own writes as if they had gone out
    one by one. A transaction that adds nothing (a read) is left alone.
    """

    def __init__(self, connection: Connection, *, compound: bool) -> None:
        self.connection = connection
        self.compound = compound
        self._statements: list[str] = []
        self._size = 0
        self._watching = False

    def add(self, statements: Sequence[str]) -> None:
        if statements and not self._watching:
            event.listen(self.connection, "before_execute", self._before_execute)
            self._watching = True
        for statement in statements:
            if self._statements and self._size + len(statement) > MAX_PENDING_BYTES:
                self.flush()
            self._statements.append(statement)
            self._size += len(statement) + 2

    def flush(self) -> None:
        """Send what is pending (nothing if nothing is)."""
        if not self._statements:
            return
        statements, self._statements, self._size = self._statements, [], 0
        if self.compound and len(statements) > 1:
            statements = ["BEGIN NOT ATOMIC\n" + ";\n".join(statements) + ";\nEND"]
        for sql in statements:
            self.connection.exec_driver_sql(sql, execution_options=_NO_PARAMETERS)

    def discard(self) -> None:
        """Forget what is pending (the transaction is being rolled back)."""
        self._statements, self._size = [], 0

    def _before_execute(self, *_: object) -> None:
        self.flush()
