"""The unit of work on MySQL: one transaction around a use case; nothing is written unless
`commit()` is called. A transaction MariaDB ended to resolve a lock conflict surfaces as the port's
TransactionConflict, so use cases can try again without knowing the driver."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError

from supply_auth.adapters.repository import (
    LoginAttemptRepository,
    PasswordLinkRepository,
    RefreshTokenRepository,
    UserRepository,
    is_lock_conflict,
)
from supply_auth.service_layer.ports import TransactionConflict


class SqlUnitOfWork:
    users: UserRepository
    links: PasswordLinkRepository
    refresh_tokens: RefreshTokenRepository
    attempts: LoginAttemptRepository

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None

    def __enter__(self) -> SqlUnitOfWork:
        self._connection = self.engine.connect()
        self._transaction = self._connection.begin()
        self.users = UserRepository(self._connection)
        self.links = PasswordLinkRepository(self._connection)
        self.refresh_tokens = RefreshTokenRepository(self._connection)
        self.attempts = LoginAttemptRepository(self._connection)
        return self

    def commit(self) -> None:
        assert self._transaction is not None
        self._transaction.commit()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._connection is not None
        assert self._transaction is not None
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._connection.close()
        if isinstance(exc, OperationalError) and is_lock_conflict(exc):
            raise TransactionConflict(str(exc.orig)) from exc
