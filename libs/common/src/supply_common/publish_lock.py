"""The publish lock: a MySQL named lock that lets one outbox relay of a database publish at a time
(the sales-writer's, auth's).

The lock lives on a connection of its own (taken out of the pool for good), so it is held exactly
as long as that connection: when the relay's process dies or the connection is lost, the server
releases it and a relay on standby takes it. Every call is blocking (run it in a worker thread) and
the calls of one lock never overlap (the relay makes them one after another)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

MAX_NAME = 64
"""MySQL refuses longer lock names (MariaDB accepts them): a longer one is shortened with a digest."""


def lock_name(database: str) -> str:
    """`<database>.outbox_relay`: named locks are server-wide, so each database has its own."""
    name = f"{database}.outbox_relay"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return f"{database[: MAX_NAME - len(digest) - 15]}~{digest}.outbox_relay"


class PublishLock:
    def __init__(self, engine: Engine, name: str | None = None) -> None:
        self.engine = engine
        self.name = name or lock_name(engine.url.database or "")
        self.connection_id: int | None = None
        """The server's id of the connection holding the lock (None: not held)."""
        self._connection: Any = None

    @property
    def held(self) -> bool:
        """Whether this relay took the lock and has not seen it lost since (`still_held` checks)."""
        return self.connection_id is not None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another connection holds it."""
        if self.held:
            return self.still_held()
        if self._connection is None:
            # A pool connection (the engine's connect arguments and timeouts) that never goes back.
            proxied = self.engine.raw_connection()
            proxied.detach()
            self._connection = proxied
            self._connection.autocommit(True)
        try:
            taken, connection_id = self._query("SELECT GET_LOCK(%s, 0), CONNECTION_ID()")
        except BaseException:
            self.release()
            raise
        if taken != 1:
            return False
        self.connection_id = int(connection_id)
        log.info("relay publishing: it holds the publish lock", extra={"lock": self.name})
        return True

    def still_held(self) -> bool:
        """One round trip on the lock's connection: does it still hold the lock? A lost connection or
        lock is let go at once (the relay is then on standby)."""
        if not self.held:
            return False
        try:
            (mine,) = self._query("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()")
        except Exception as exc:  # noqa: BLE001 - the connection is gone, and the lock with it
            log.warning("relay lost its publish lock: standing by", extra={"error": repr(exc)[:300]})
            self.release()
            return False
        if mine != 1:
            log.warning("relay lost its publish lock: standing by", extra={"lock": self.name})
            self.release()
            return False
        return True

    def release(self) -> None:
        """Give the lock up (closing its connection releases it on the server)."""
        connection, self._connection, self.connection_id = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone: so is the lock
                connection.close()

    def _query(self, sql: str) -> tuple[Any, ...]:
        with self._connection.cursor() as cursor:
            cursor.execute(sql, (self.name,))
            row: tuple[Any, ...] = cursor.fetchone()
        return row
