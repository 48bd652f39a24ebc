"""MySQL access for users, password links, refresh tokens and login attempts (SQLAlchemy Core,
bound parameters only)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from supply_auth.adapters.tables import (
    login_attempts,
    password_links,
    refresh_families,
    refresh_tokens,
    users,
)
from supply_auth.domain.model import PasswordLink, RefreshGrant, User
from supply_auth.domain.throttle import Attempts
from supply_auth.service_layer.ports import DuplicateEmail
from supply_common.identity import Role

LOCK_CONFLICTS = (1205, 1213)
"""MariaDB's lock wait timeout and deadlock: the transaction was rolled back and may be tried again."""


def is_lock_conflict(error: OperationalError) -> bool:
    code = error.orig.args[0] if error.orig is not None and error.orig.args else None
    return code in LOCK_CONFLICTS


def _user(row: sa.Row) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        role=row.role,
        password_hash=row.password_hash,
        disabled=bool(row.disabled),
        created_at=row.created_at,
        email_confirmed_at=row.email_confirmed_at,
    )


class UserRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, user: User, now: datetime) -> None:
        values = {**user.__dict__, "updated_at": now}
        try:
            with self.connection.begin_nested():
                self.connection.execute(users.insert().values(**values))
        except IntegrityError as exc:
            raise DuplicateEmail(user.email) from exc

    def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        query = sa.select(users).where(users.c.id == user_id)
        if for_update:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _user(row) if row else None

    def by_email(self, email: str) -> User | None:
        row = self.connection.execute(sa.select(users).where(users.c.email == email)).first()
        return _user(row) if row else None

    def page(self, *, role: Role | None, after: str | None, limit: int) -> list[User]:
        query = sa.select(users).order_by(users.c.id).limit(limit)
        if role is not None:
            query = query.where(users.c.role == role)
        if after is not None:
            query = query.where(users.c.id > after)
        return [_user(row) for row in self.connection.execute(query)]

    def update(self, user_id: str, now: datetime, **values: object) -> None:
        self.connection.execute(users.update().where(users.c.id == user_id).values(**values, updated_at=now))

    def lock_active_admins(self, role: Role) -> list[str]:
        """Ids of active users holding `role`, locked until the transaction ends."""
        query = sa.select(users.c.id).where(users.c.role == role, users.c.disabled.is_(sa.false())).with_for_update()
        return list(self.connection.execute(query).scalars())

    def count(self) -> int:
        return int(self.connection.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())


class PasswordLinkRepository:
    """The one link that may still set a user's password, by the SHA-256 of its token."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def replace(self, user_id: str, token_hash: bytes, now: datetime, expires_at: datetime) -> None:
        """Make `token_hash` the user's link; any earlier one stops working."""
        self.connection.execute(
            sa.text(
                "INSERT INTO password_links (user_id, token_hash, created_at, expires_at) "
                "VALUES (:user_id, :token_hash, :now, :expires_at) ON DUPLICATE KEY UPDATE "
                "token_hash = VALUES(token_hash), created_at = VALUES(created_at), expires_at = VALUES(expires_at)"
            ),
            {"user_id": user_id, "token_hash": token_hash, "now": now, "expires_at": expires_at},
        )

    def by_token(self, token_hash: bytes) -> PasswordLink | None:
        row = self.connection.execute(
            sa.select(password_links).where(password_links.c.token_hash == token_hash)
        ).first()
        return PasswordLink(row.user_id, row.token_hash, row.expires_at) if row else None

    def of_user(self, user_id: str) -> PasswordLink | None:
        """The user's link, locked until the transaction ends."""
        row = self.connection.execute(
            sa.select(password_links).where(password_links.c.user_id == user_id).with_for_update()
        ).first()
        return PasswordLink(row.user_id, row.token_hash, row.expires_at) if row else None

    def delete(self, user_id: str) -> None:
        self.connection.execute(password_links.delete().where(password_links.c.user_id == user_id))


class RefreshTokenRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def start_family(self, family_id: str, user_id: str, now: datetime, expires_at: datetime) -> None:
        self.connection.execute(
            refresh_families.insert().values(id=family_id, user_id=user_id, created_at=now, expires_at=expires_at)
        )

    def add(self, token_hash: bytes, family_id: str, now: datetime) -> None:
        self.connection.execute(
            refresh_tokens.insert().values(token_hash=token_hash, family_id=family_id, issued_at=now)
        )

    def find_for_update(self, token_hash: bytes) -> RefreshGrant | None:
        """The token with its family (locked), or None."""
        query = (
            sa.select(
                refresh_tokens.c.family_id,
                refresh_tokens.c.used_at,
                refresh_families.c.user_id,
                refresh_families.c.expires_at,
                refresh_families.c.revoked_at,
            )
            .join(refresh_families, refresh_families.c.id == refresh_tokens.c.family_id)
            .where(refresh_tokens.c.token_hash == token_hash)
            .with_for_update()
        )
        row = self.connection.execute(query).first()
        if row is None:
            return None
        return RefreshGrant(row.family_id, row.user_id, row.used_at, row.expires_at, row.revoked_at)

    def mark_used(self, token_hash: bytes, now: datetime) -> None:
        self.connection.execute(
            refresh_tokens.update().where(refresh_tokens.c.token_hash == token_hash).values(used_at=now)
        )

    def revoke_family(self, family_id: str, now: datetime, reason: str) -> None:
        self.connection.execute(
            refresh_families.update()
            .where(refresh_families.c.id == family_id, refresh_families.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    def revoke_user(self, user_id: str, now: datetime, reason: str) -> int:
        result = self.connection.execute(
            refresh_families.update()
            .where(refresh_families.c.user_id == user_id, refresh_families.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        return result.rowcount

    def purge_expired(self, now: datetime, limit: int = 1000) -> None:
        ids = list(
            self.connection.execute(
                sa.select(refresh_families.c.id).where(refresh_families.c.expires_at < now).limit(limit)
            ).scalars()
        )
        if ids:
            self.connection.execute(refresh_families.delete().where(refresh_families.c.id.in_(ids)))


class LoginAttemptRepository:
    """Attempt counters per subject (a hashed account or client address), shared by every process."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def lock(self, subjects: Sequence[bytes], now: datetime) -> dict[bytes, Attempts]:
        """Each subject's counter, locked until the transaction ends; a subject without one gets an
        empty counter (gone again if the transaction rolls back). Rows are locked in one order
        whatever the caller's, so that two logins never wait for each other in a circle."""
        ordered = sorted(set(subjects))
        for subject in ordered:
            self.connection.execute(
                sa.text(
                    "INSERT INTO login_attempts (subject, failures, window_started_at, blocked_until) "
                    "VALUES (:subject, 0, :now, NULL) ON DUPLICATE KEY UPDATE failures = failures"
                ),
                {"subject": subject, "now": now},
            )
        rows = self.connection.execute(
            sa.select(login_attempts)
            .where(login_attempts.c.subject.in_(ordered))
            .order_by(login_attempts.c.subject)
            .with_for_update()
        )
        return {row.subject: Attempts(row.failures, row.window_started_at, row.blocked_until) for row in rows}

    def save(self, subject: bytes, attempts: Attempts) -> None:
        self.connection.execute(
            login_attempts.update()
            .where(login_attempts.c.subject == subject)
            .values(
                failures=attempts.failures,
                window_started_at=attempts.window_started_at,
                blocked_until=attempts.blocked_until,
            )
        )

    def uncount(self, subject: bytes, counted: Attempts, before: Attempts) -> None:
        """Take back one attempt counted as `counted` over `before`: one failure less, and the wait
        it started is undone unless a later attempt has set another since."""
        self.connection.execute(
            login_attempts.update()
            .where(login_attempts.c.subject == subject)
            .values(
                failures=sa.func.greatest(login_attempts.c.failures - 1, 0),
                blocked_until=sa.case(
                    (login_attempts.c.blocked_until.is_not_distinct_from(counted.blocked_until), before.blocked_until),
                    else_=login_attempts.c.blocked_until,
                ),
            )
        )

    def clear(self, subject: bytes) -> None:
        self.connection.execute(login_attempts.delete().where(login_attempts.c.subject == subject))

    def purge_stale(self, now: datetime, cutoff: datetime, chance: float = 0.01) -> None:
        """Now and then, forget counters whose window lapsed and that block nothing."""
        if random.random() >= chance:
            return
        self.connection.execute(
            sa.text(
                "DELETE FROM login_attempts WHERE window_started_at < :cutoff "
                "AND (blocked_until IS NULL OR blocked_until < :now) LIMIT 1000"
            ),
            {"cutoff": cutoff, "now": now},
        )
