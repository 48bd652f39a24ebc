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
from supply_common.contract.account_events import AccountEventType
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


USER_SORTS = ("created", "name", "email", "last_login")
"""What a list of users can be sorted by (`created` is id order); ties are broken by id."""


@dataclass(frozen=True)
class UserQuery:
    """Which users a list shows, in what order, from where."""

    roles: tuple[Role, ...] = ()
    """Only these roles; empty: every role."""
    search: str = ""
    """Only users whose email or name contains this, ignoring case."""
    sort: str = "created"
    descending: bool = False
    after: str | None = None
    """Only users after this id (with the `created` ascending order only)."""
    offset: int = 0
    limit: int = 50


class UserRepository(Protocol):
    def add(self, user: User, now: datetime) -> None:
        """Insert; DuplicateEmail when the address is taken."""

    def get(self, user_id: str, *, for_update: bool = False) -> User | None: ...

    def by_email(self, email: str) -> User | None: ...

    def page(self, query: UserQuery) -> list[User]:
        """The users the query selects, in its order, at most `limit` of them."""

    def count(self, query: UserQuery) -> int:
        """How many users the query selects, whatever its offset and limit."""

    def update(self, user_id: str, now: datetime, **values: object) -> None: ...

    def end_tokens(self, user_id: str) -> int:
        """Raise the user's token generation, so that every access token issued so far is refused;
        returns the new generation."""

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


class AccountEvents(Protocol):
    """Account changes that token verifiers must hear of, published to `auth.account-events` after
    the unit of work commits (an outbox: nothing is published unless the change is committed, and
    nothing committed is lost)."""

    def record(self, event_type: AccountEventType, user_id: str, now: datetime) -> None:
        """Queue the account's event: its state after this unit of work's changes (token generation,
        recently revoked sessions). Call it after those changes."""


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


class KnownAddressRepository(Protocol):
    """The client addresses (hashed like the throttle's address subject) each account signed in from."""

    def remember(self, user_id: str, address: bytes, now: datetime, *, forget_before: datetime) -> None:
        """Record a sign-in of the user from `address`; the user's addresses last seen before
        `forget_before` are forgotten."""

    def is_known(self, user_id: str, address: bytes, *, since: datetime) -> bool:
        """Whether the user signed in from `address` at or after `since`."""


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

    @property
    def known_addresses(self) -> KnownAddressRepository: ...

    @property
    def events(self) -> AccountEvents: ...

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

    def issue(self, *, user_id: str, role: str, email: str, session_id: str, generation: int) -> str:
        """A signed access token of one session (a refresh-token family) and token generation."""


class SendsMail(Protocol):
    def send(self, mail: Mail, **log_fields: object) -> None:
        """Queue one message; delivery happens later, off the caller's path."""
