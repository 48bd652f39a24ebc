"""What the use cases need from the world, as Protocols: the unit of work and its repositories, the
password hasher, the token issuer and the mail queue. Adapters implement them (`adapters/`); the
unit tests use in-memory fakes (`tests/unit/fakes.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from supply_auth.domain.model import PasswordLink, RefreshGrant, User
from supply_auth.domain.throttle import Attempts
from supply_common.identity import Role


class DuplicateEmail(Exception):
    """Another account took the address at the same moment; the unit of work must be started again."""


class TransactionConflict(Exception):
    """The store ended the transaction to resolve a lock conflict (a deadlock, a lock wait timeout):
    nothing was written, and the same work may be tried again in a new unit of work."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class UserRepository(Protocol):
    def add(self, user: User, now: datetime) -> None:
        """Insert; DuplicateEmail when the address is taken."""

    def get(self, user_id: str, *, for_update: bool = False) -> User | None: ...

    def by_email(self, email: str) -> User | None: ...

    def page(self, *, role: Role | None, after: str | None, limit: int) -> list[User]:
        """Users in id order, after the id `after`."""

    def update(self, user_id: str, now: datetime, **values: object) -> None: ...

    def lock_active_admins(self, role: Role) -> list[str]:
        """Ids of active users holding `role`, locked until the unit of work ends."""


class PasswordLinkRepository(Protocol):
    """At most one link per user, found by the SHA-256 of its token."""

    def replace(self, user_id: str, token_hash: bytes, now: datetime, expires_at: datetime) -> None: ...

    def by_token(self, token_hash: bytes) -> PasswordLink | None: ...

    def of_user(self, user_id: str) -> PasswordLink | None:
        """The user's link, locked until the unit of work ends."""

    def delete(self, user_id: str) -> None: ...


class RefreshTokenRepository(Protocol):
    def start_family(self, family_id: str, user_id: str, now: datetime, expires_at: datetime) -> None: ...

    def add(self, token_hash: bytes, family_id: str, now: datetime) -> None: ...

    def find_for_update(self, token_hash: bytes) -> RefreshGrant | None:
        """The token with its family, locked until the unit of work ends."""

    def mark_used(self, token_hash: bytes, now: datetime) -> None: ...

    def revoke_family(self, family_id: str, now: datetime, reason: str) -> None: ...

    def revoke_user(self, user_id: str, now: datetime, reason: str) -> int:
        """Revoke every live family of the user; how many."""

    def purge_expired(self, now: datetime, limit: int = 1000) -> None: ...


class LoginAttemptRepository(Protocol):
    """Failure counters per subject (a hashed account or client address), shared by every process."""

    def lock(self, subjects: Sequence[bytes], now: datetime) -> dict[bytes, Attempts]:
        """Each subject's counter (an empty one if it has none), locked until the unit of work ends."""

    def save(self, subject: bytes, attempts: Attempts) -> None: ...

    def uncount(self, subject: bytes, counted: Attempts, before: Attempts) -> None:
        """Take back one attempt counted as `counted` over `before`; the wait it started is undone
        unless a later attempt has set another since."""

    def clear(self, subject: bytes) -> None: ...

    def purge_stale(self, now: datetime, cutoff: datetime, chance: float = 0.01) -> None: ...


class UnitOfWork(Protocol):
    """One transaction: nothing is kept unless `commit()` is called before the block ends. A lock
    conflict surfaces as TransactionConflict."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def links(self) -> PasswordLinkRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def attempts(self) -> LoginAttemptRepository: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...


class Hasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, a replacement hash or None). With no stored hash, costs as much as a mismatch."""


class TokenIssuer(Protocol):
    ttl_s: int

    def issue(self, *, user_id: str, role: str, email: str) -> str:
        """A signed access token."""


class SendsMail(Protocol):
    def send(self, mail: Mail, **log_fields: object) -> None:
        """Queue one message; delivery happens later, off the caller's path."""
