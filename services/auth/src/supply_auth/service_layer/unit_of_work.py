"""One MySQL transaction around a use case; nothing is written unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine, RootTransaction

from supply_auth.adapters.repository import (
    LoginAttemptRepository,
    PasswordLinkRepository,
    RefreshTokenRepository,
    UserRepository,
)


class UnitOfWork:
    users: UserRepository
    links: PasswordLinkRepository
    refresh_tokens: RefreshTokenRepository
    attempts: LoginAttemptRepository

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None

    def __enter__(self) -> UnitOfWork:
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
