"""MySQL access for users, password links, refresh tokens and login attempts (SQLAlchemy Core,
bound parameters only)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from supply_auth.adapters.tables import (
    known_addresses,
    login_attempts,
    password_links,
    refresh_families,
    refresh_tokens,
    users,
)
from supply_auth.domain.model import PasswordLink, RefreshGrant, User
from supply_auth.domain.throttle import Attempts
from supply_auth.service_layer.ports import DuplicateEmail, UserQuery
from supply_common.contract.account_events import AccountEventType, account_event
from supply_common.identity import Role
from supply_common.outbox_relay import add_records

LOCK_CONFLICTS = (1205, 1213)
"""MariaDB's lock wait timeout and deadlock: the transaction was rolled back and may be tried again."""


def is_lock_conflict(error: OperationalError) -> bool:
    code = error.orig.args[0] if error.orig is not None and error.orig.args else None
    return code in LOCK_CONFLICTS


_USER_FIELDS = tuple(field.name for field in dataclasses.fields(User))
"""A `users` row has a column of each name (`add` writes `user.__dict__`), and `updated_at`."""


def _user(row: sa.Row) -> User:
    values = {name: row._mapping[name] for name in _USER_FIELDS}
    return User(**{**values, "disabled": bool(row.disabled)})


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

    @staticmethod
    def _matching(query: UserQuery) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if query.roles:
            conditions.append(users.c.role.in_(query.roles))
        if query.search:
            pattern = "%" + query.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(
                sa.or_(
                    sa.func.lower(users.c.email).like(pattern, escape="\\"),
                    sa.func.lower(users.c.name).like(pattern, escape="\\"),
                )
            )
        return conditions

    def page(self, query: UserQuery) -> list[User]:
        column = {
            "created": users.c.id,
            "name": users.c.name,
            "email": users.c.email,
            "last_login": users.c.last_login_at,
        }[query.sort]
        order = [column.desc() if query.descending else column.asc()]
        if column is not users.c.id:
            order.append(users.c.id.desc() if query.descending else users.c.id.asc())
        select = sa.select(users).where(*self._matching(query)).order_by(*order).limit(query.limit)
        if query.after is not None:
            select = select.where(users.c.id > query.after)
        if query.offset:
            select = select.offset(query.offset)
        return [_user(row) for row in self.connection.execute(select)]

    def count(self, query: UserQuery) -> int:
        select = sa.select(sa.func.count()).select_from(users).where(*self._matching(query))
        return int(self.connection.execute(select).scalar_one())

    def update(self, user_id: str, now: datetime, **values: object) -> None:
        self.connection.execute(users.update().where(users.c.id == user_id).values(**values, updated_at=now))

    def end_tokens(self, user_id: str) -> int:
        """Raise the user's token generation; returns the new one."""
        self.connection.execute(
            users.update().where(users.c.id == user_id).values(token_generation=users.c.token_generation + 1)
        )
        return int(
            self.connection.execute(sa.select(users.c.token_generation).where(users.c.id == user_id)).scalar_one()
        )

    def lock_active_admins(self, role: Role) -> list[str]:
        """Ids of active users holding `role`, locked until the transaction ends."""
        query = sa.select(users.c.id).where(users.c.role == role, users.c.disabled.is_(sa.false())).with_for_update()
        return list(self.connection.execute(query).scalars())


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


class AccountEventOutbox:
    """Account events into the outbox of the transaction that changes the account (`AccountEvents`).

    The user's row is locked first and the revoked sessions are read with a locking read, so two
    transactions changing one account write their events one after the other, the later one seeing
    what the earlier committed: the account's last record on the topic, the one compaction keeps,
    holds its whole state."""

    def __init__(self, connection: Connection, topic: str, session_window: timedelta) -> None:
        self.connection = connection
        self.topic = topic
        self.session_window = session_window
        self.recorded = 0

    def record(self, event_type: AccountEventType, user_id: str, now: datetime) -> None:
        user = self.connection.execute(
            sa.select(users.c.role, users.c.disabled, users.c.token_generation)
            .where(users.c.id == user_id)
            .with_for_update()
        ).one()
        revoked = self.connection.execute(
            sa.select(refresh_families.c.id, refresh_families.c.revoked_at)
            .where(
                refresh_families.c.user_id == user_id,
                refresh_families.c.revoked_at >= now - self.session_window,
            )
            .order_by(refresh_families.c.id)
            .with_for_update(read=True)
        ).all()
        event = account_event(
            event_type,
            user_id=user_id,
            occurred_at=now,
            token_generation=user.token_generation,
            revoked_sessions=tuple((row.id, row.revoked_at + self.session_window) for row in revoked),
            role=user.role,
            disabled=bool(user.disabled),
        )
        add_records(self.connection, [(self.topic, event.key, event.encode())], now)
        self.recorded += 1


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


class KnownAddressRepository:
    """The client addresses (hashed) each account signed in from, and when it last did."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def remember(self, user_id: str, address: bytes, now: datetime, *, forget_before: datetime) -> None:
        self.connection.execute(
            sa.text(
                "INSERT INTO known_addresses (user_id, address, last_seen_at) VALUES (:user_id, :address, :now) "
                "ON DUPLICATE KEY UPDATE last_seen_at = VALUES(last_seen_at)"
            ),
            {"user_id": user_id, "address": address, "now": now},
        )
        self.connection.execute(
            known_addresses.delete().where(
                known_addresses.c.user_id == user_id, known_addresses.c.last_seen_at < forget_before
            )
        )

    def is_known(self, user_id: str, address: bytes, *, since: datetime) -> bool:
        row = self.connection.execute(
            sa.select(known_addresses.c.last_seen_at).where(
                known_addresses.c.user_id == user_id,
                known_addresses.c.address == address,
                known_addresses.c.last_seen_at >= since,
            )
        ).first()
        return row is not None
