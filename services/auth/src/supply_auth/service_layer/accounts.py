"""Use cases of the auth service: registration, login, refresh, logout, and staff management."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections.abc import Callable, Container
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import OperationalError

from supply_auth.adapters.hashing import PasswordHasher
from supply_auth.adapters.keys import TokenService
from supply_auth.adapters.mail import Mail
from supply_auth.adapters.repository import DuplicateEmail, is_lock_conflict
from supply_auth.domain.model import (
    ADMIN_ROLE,
    SELF_REGISTERED_ROLE,
    DomainError,
    User,
    new_user_id,
    normalise_email,
    validate_email,
    validate_name,
    validate_role,
)
from supply_auth.domain.passwords import check_password
from supply_auth.domain.throttle import Attempts, ThrottlePolicy
from supply_auth.service_layer import notices
from supply_auth.service_layer.errors import (
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidPasswordLink,
    InvalidRefreshToken,
    LastSeniorManager,
    NotAuthenticated,
    Throttled,
    UserNotFound,
)
from supply_auth.service_layer.unit_of_work import UnitOfWork
from supply_common.identity import Role

log = logging.getLogger("supply_auth.events")

LOCK_RETRIES = 3
"""Times a login's counting transaction is tried when MariaDB picks it to end a deadlock."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


@dataclass(frozen=True)
class UserPage:
    items: list[User]
    next_cursor: str | None


def _digest(kind: str, value: str) -> bytes:
    return hashlib.sha256(f"{kind}:{value}".encode()).digest()


def new_link_token() -> tuple[str, bytes]:
    """A password link's token (256 random bits) and the SHA-256 that is all the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).digest()


def _failure(user: User | None, matches: bool) -> str:
    """Why a login failed, for the log."""
    if user is None:
        return "unknown_email"
    if user.password_hash is None:
        return "no_password"
    if not matches:
        return "wrong_password"
    return "disabled" if user.disabled else "unconfirmed"


def email_fingerprint(email: str) -> str:
    """A short hash of a normalised email, for logs that must not hold the address."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:16]


class SendsMail(Protocol):
    def send(self, mail: Mail, **log_fields: object) -> None:
        """Queue one message; delivery happens later, off the caller's path."""


class Accounts:
    def __init__(
        self,
        *,
        uow: Callable[[], UnitOfWork],
        hasher: PasswordHasher,
        tokens: TokenService,
        throttle: ThrottlePolicy,
        common_passwords: Container[str],
        refresh_ttl_s: int,
        clock: Callable[[], float],
        mail: SendsMail,
        public_base_url: str,
        link_ttl_s: int,
    ) -> None:
        self.uow = uow
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle
        self.common_passwords = common_passwords
        self.refresh_ttl_s = refresh_ttl_s
        self.clock = clock
        self.mail = mail
        self.public_base_url = public_base_url
        self.link_ttl_s = link_ttl_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(tzinfo=None)

    # -- accounts -------------------------------------------------------------------------------

    def _checked(self, *, email: str, name: str, role: str, password: str | None = None) -> dict[str, str]:
        """The normalised email, name and role; every broken rule at once as InvalidInput. The
        password, when given, is checked against the policy too."""
        errors: list[DomainError] = []
        checked: dict[str, str] = {}
        for field, check in (("email", validate_email), ("name", validate_name), ("role", validate_role)):
            raw = {"email": email, "name": name, "role": role}[field]
            try:
                checked[field] = check(raw)
            except DomainError as error:
                errors.append(error)
        if password is not None:
            try:
                check_password(
                    password, self.common_passwords, email=checked.get("email", ""), name=checked.get("name", "")
                )
            except DomainError as error:
                errors.append(error)
        if errors:
            raise InvalidInput(errors)
        return checked

    def register(self, *, email: str, name: str) -> None:
        """Ask for a customer account. The caller learns nothing about the address: whatever it
        holds, the answer is the same and costs the same; what follows goes to its inbox. Nobody
        can sign in with a registered account until its password is set through the mailed link
        (`set_password`), so registering someone else's address gains nothing.

        - New address: an account without a password, and a link to choose one.
        - Address of an account still without a password: its name is replaced, and a new link
          replaces the old one.
        - Address of a confirmed account: nothing changes; its owner is told of the attempt."""
        checked = self._checked(email=email, name=name, role=SELF_REGISTERED_ROLE)
        email = checked["email"]
        token, token_hash = new_link_token()
        outcome, user_id = "", ""
        for _ in range(LOCK_RETRIES):
            try:
                outcome, user_id = self._record_registration(checked, token_hash)
            except (DuplicateEmail, OperationalError) as exc:
                if isinstance(exc, OperationalError) and not is_lock_conflict(exc):
                    raise
                continue  # the same address registered at the same moment, or a deadlock: go again
            break
        else:
            raise RuntimeError("registration kept meeting a concurrent one")
        fields = {"email_hash": email_fingerprint(email), "user_id": user_id}
        base = self.public_base_url
        if outcome == "exists":
            self.mail.send(notices.already_registered(email, base_url=base), kind="registered", **fields)
        else:
            message = notices.choose_password(email, base_url=base, token=token, ttl_s=self.link_ttl_s)
            self.mail.send(message, kind="password_link", **fields)
        log.info("registration", extra={"event": "registration", "outcome": outcome, **fields})

    def _record_registration(self, checked: dict[str, str], token_hash: bytes) -> tuple[str, str]:
        """One transaction of `register`: (outcome, user id), outcome `created`, `replaced` or `exists`."""
        now = self.now()
        expires_at = now + timedelta(seconds=self.link_ttl_s)
        with self.uow() as uow:
            found = uow.users.by_email(checked["email"])
            locked = uow.users.get(found.id, for_update=True) if found else None
            if locked is None:
                user = User(
                    id=new_user_id(),
                    email=checked["email"],
                    name=checked["name"],
                    role=SELF_REGISTERED_ROLE,
                    password_hash=None,
                    disabled=False,
                    created_at=now,
                )
                uow.users.add(user, now)
                outcome, user_id = "created", user.id
            elif locked.email_confirmed:
                return "exists", locked.id
            else:
                uow.users.update(locked.id, now, name=checked["name"])
                outcome, user_id = "replaced", locked.id
            uow.links.replace(user_id, token_hash, now, expires_at)
            uow.commit()
        return outcome, user_id

    def set_password(self, token: str, password: str) -> TokenPair:
        """Set the password of the account a password link was mailed for, confirm its address, and
        sign its owner in. This is the only way a registered account gets a password: only whoever
        reads the address's mail holds the token. The link works once, only while it is the
        account's newest and has not expired; it ends every earlier login of the account."""
        token_hash = hashlib.sha256(token.encode()).digest()
        with self.uow() as uow:
            link = uow.links.by_token(token_hash)
            user = uow.users.get(link.user_id) if link else None
        if link is None or user is None or user.disabled or link.expires_at <= self.now():
            raise InvalidPasswordLink
        try:
            check_password(password, self.common_passwords, email=user.email, name=user.name)
        except DomainError as error:
            raise InvalidInput([error]) from None
        password_hash = self.hasher.hash(password)
        now = self.now()
        with self.uow() as uow:
            locked = uow.users.get(user.id, for_update=True)
            link = uow.links.of_user(user.id)
            if locked is None or locked.disabled or link is None or link.token_hash != token_hash:
                raise InvalidPasswordLink
            if link.expires_at <= now:
                raise InvalidPasswordLink
            uow.users.update(
                locked.id, now, password_hash=password_hash, email_confirmed_at=locked.email_confirmed_at or now
            )
            uow.links.delete(locked.id)
            uow.refresh_tokens.revoke_user(locked.id, now, "password_set")
            uow.attempts.clear(_digest("account", locked.email))
            refresh_token = self._start_family(uow, locked.id, now)
            uow.commit()
        log.info(
            "password set through the mailed link",
            extra={"event": "password.set", "user_id": locked.id, "confirmed_now": not locked.email_confirmed},
        )
        return self._pair(locked, refresh_token)

    def create_account(self, *, email: str, password: str, name: str, role: str) -> User:
        """An account with any role, its email confirmed: for staff management and the command line.
        An unconfirmed account of the same address (nobody has shown it is theirs) is taken over."""
        checked = self._checked(email=email, name=name, role=role, password=password)
        with self.uow() as uow:
            found = uow.users.by_email(checked["email"])
            if found is not None and found.email_confirmed:
                raise EmailTaken
        now = self.now()
        user = User(
            id=new_user_id(),
            email=checked["email"],
            name=checked["name"],
            role=checked["role"],  # type: ignore[arg-type]
            password_hash=self.hasher.hash(password),
            disabled=False,
            created_at=now,
            email_confirmed_at=now,
        )
        with self.uow() as uow:
            found = uow.users.by_email(user.email)
            locked = uow.users.get(found.id, for_update=True) if found else None
            if locked is None:
                try:
                    uow.users.add(user, now)
                except DuplicateEmail:
                    raise EmailTaken from None
            elif locked.email_confirmed:
                raise EmailTaken
            else:
                uow.users.update(
                    locked.id,
                    now,
                    name=user.name,
                    role=user.role,
                    password_hash=user.password_hash,
                    disabled=False,
                    email_confirmed_at=now,
                )
                uow.links.delete(locked.id)
                user = replace(user, id=locked.id, created_at=locked.created_at)
            uow.commit()
        log.info("user created", extra={"event": "user.created", "user_id": user.id, "role": user.role})
        return user

    def me(self, user_id: str) -> User:
        with self.uow() as uow:
            user = uow.users.get(user_id)
        if user is None or user.disabled:
            raise NotAuthenticated
        return user

    # -- login and tokens -----------------------------------------------------------------------

    def login(self, *, email: str, password: str, client: str) -> TokenPair:
        """Tokens for a correct email and password of a confirmed account. Unknown email, wrong
        password, an account without a password yet (registered, link not used) and a disabled
        account are one failure to the caller, and cost the same hash verification.

        The attempt is counted before the password is checked, in the transaction that looks at the
        waits, so attempts running at the same time cannot all pass one look: each either finds its
        subjects blocked or counts itself. A correct password takes its count back afterwards."""
        email = normalise_email(email)
        account, address = _digest("account", email), _digest("address", client)
        reservation, user = self._count_attempt(account, address, email, client)
        matches, new_hash = self.hasher.verify(password, user.password_hash if user else None)
        now = self.now()
        if user is None or not matches or user.disabled or not user.email_confirmed:
            with self.uow() as uow:
                uow.attempts.purge_stale(now, now - timedelta(seconds=self.throttle.window_s))
                uow.commit()
            reason = _failure(user, matches)
            log.warning(
                "login failed",
                extra={
                    "event": "login.failed",
                    "reason": reason,
                    "email_hash": email_fingerprint(email),
                    "user_id": user.id if user else None,
                    "client": client,
                },
            )
            raise InvalidCredentials
        with self.uow() as uow:
            if new_hash is not None:
                uow.users.update(user.id, now, password_hash=new_hash)
            uow.attempts.clear(account)
            uow.attempts.uncount(address, *reservation[address])
            refresh_token = self._start_family(uow, user.id, now)
            if secrets.randbelow(100) == 0:
                uow.refresh_tokens.purge_expired(now, limit=100)
            uow.commit()
        log.info(
            "login succeeded",
            extra={
                "event": "login.succeeded",
                "user_id": user.id,
                "role": user.role,
                "client": client,
                "hash_upgraded": new_hash is not None,
            },
        )
        return self._pair(user, refresh_token)

    def _count_attempt(
        self, account: bytes, address: bytes, email: str, client: str
    ) -> tuple[dict[bytes, tuple[Attempts, Attempts]], User | None]:
        """Count one attempt against the account and the address in one transaction, unless either
        must still wait (then Throttled, and nothing is counted). Returns each subject's counter as
        counted and as it was before, and the account's user if there is one."""
        policy = self.throttle
        for attempt in range(LOCK_RETRIES):
            now = self.now()
            try:
                with self.uow() as uow:
                    before = uow.attempts.lock([account, address], now)
                    waits = [c.blocked_until for c in before.values() if c.blocked_until and c.blocked_at(now)]
                    if waits:
                        raise self._throttled(max(waits) - now, email, client)
                    counted: dict[bytes, tuple[Attempts, Attempts]] = {}
                    for subject, limits in ((account, policy.account), (address, policy.address)):
                        counted[subject] = (policy.count(before[subject], limits, now), before[subject])
                        uow.attempts.save(subject, counted[subject][0])
                    user = uow.users.by_email(email)
                    uow.commit()
                return counted, user
            except OperationalError as exc:
                if not is_lock_conflict(exc) or attempt == LOCK_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _throttled(wait: timedelta, email: str, client: str) -> Throttled:
        retry_after = max(1, math.ceil(wait.total_seconds()))
        log.warning(
            "login throttled",
            extra={
                "event": "login.throttled",
                "email_hash": email_fingerprint(email),
                "client": client,
                "retry_after_s": retry_after,
            },
        )
        return Throttled(retry_after)

    def _start_family(self, uow: UnitOfWork, user_id: str, now: datetime) -> str:
        family_id = new_user_id()
        uow.refresh_tokens.start_family(family_id, user_id, now, now + timedelta(seconds=self.refresh_ttl_s))
        return self._add_refresh_token(uow, family_id, now)

    @staticmethod
    def _add_refresh_token(uow: UnitOfWork, family_id: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        uow.refresh_tokens.add(hashlib.sha256(token.encode()).digest(), family_id, now)
        return token

    def _pair(self, user: User, refresh_token: str) -> TokenPair:
        access = self.tokens.issue(user_id=user.id, role=user.role, email=user.email)
        return TokenPair(access_token=access, refresh_token=refresh_token, expires_in=self.tokens.ttl_s)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair. A token used twice revokes its whole family."""
        token_hash = hashlib.sha256(refresh_token.encode()).digest()
        now = self.now()
        with self.uow() as uow:
            row = uow.refresh_tokens.find_for_update(token_hash)
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise InvalidRefreshToken
            if row.used_at is not None:
                uow.refresh_tokens.revoke_family(row.family_id, now, "reuse")
                uow.commit()
                log.warning(
                    "refresh token reused; family revoked",
                    extra={"event": "refresh.reuse", "user_id": row.user_id, "family_id": row.family_id},
                )
                raise InvalidRefreshToken
            user = uow.users.get(row.user_id)
            if user is None or user.disabled:
                uow.refresh_tokens.revoke_family(row.family_id, now, "disabled")
                uow.commit()
                raise InvalidRefreshToken
            uow.refresh_tokens.mark_used(token_hash, now)
            new_token = self._add_refresh_token(uow, row.family_id, now)
            uow.commit()
        return self._pair(user, new_token)

    def logout(self, *, user_id: str, refresh_token: str) -> None:
        """Revoke the refresh token's family, if it is the caller's. Unknown tokens are ignored."""
        token_hash = hashlib.sha256(refresh_token.encode()).digest()
        with self.uow() as uow:
            row = uow.refresh_tokens.find_for_update(token_hash)
            if row is not None and row.user_id == user_id:
                uow.refresh_tokens.revoke_family(row.family_id, self.now(), "logout")
                uow.commit()
                log.info("logged out", extra={"event": "logout", "user_id": user_id})

    # -- staff management -----------------------------------------------------------------------

    def _require_admin(self, uow: UnitOfWork, actor_id: str) -> None:
        actor = uow.users.get(actor_id)
        if actor is None or actor.disabled:
            raise NotAuthenticated
        if actor.role != ADMIN_ROLE:
            raise Forbidden

    def list_users(self, *, actor_id: str, role: Role | None, cursor: str | None, limit: int) -> UserPage:
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
            rows = uow.users.page(role=role, after=cursor, limit=limit + 1)
        more = len(rows) > limit
        items = rows[:limit]
        return UserPage(items=items, next_cursor=items[-1].id if more and items else None)

    def create_user(self, *, actor_id: str, email: str, password: str, name: str, role: str) -> User:
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
        user = self.create_account(email=email, password=password, name=name, role=role)
        log.info(
            "staff created user",
            extra={"event": "staff.user_created", "actor_id": actor_id, "user_id": user.id, "role": user.role},
        )
        return user

    def change_user(self, *, actor_id: str, user_id: str, role: Role | None, disabled: bool | None) -> User:
        """Change a role or the disabled flag; either revokes the user's refresh tokens. The last
        active senior manager can be neither demoted nor disabled."""
        now = self.now()
        with self.uow() as uow:
            self._require_admin(uow, actor_id)
            active_admins = uow.users.lock_active_admins(ADMIN_ROLE)
            target = uow.users.get(user_id, for_update=True)
            if target is None:
                raise UserNotFound
            changes: dict[str, object] = {}
            if role is not None and role != target.role:
                changes["role"] = role
            if disabled is not None and disabled != target.disabled:
                changes["disabled"] = disabled
            new_role = changes.get("role", target.role)
            new_disabled = changes.get("disabled", target.disabled)
            loses_admin = target.role == ADMIN_ROLE and target.active and (new_role != ADMIN_ROLE or new_disabled)
            if loses_admin and set(active_admins) <= {target.id}:
                raise LastSeniorManager
            if changes:
                uow.users.update(target.id, now, **changes)
                if "role" in changes or new_disabled:
                    uow.refresh_tokens.revoke_user(target.id, now, "role_change" if "role" in changes else "disabled")
                uow.commit()
            updated = uow.users.get(target.id) if changes else target
        assert updated is not None
        if changes:
            log.info(
                "staff changed user",
                extra={
                    "event": "staff.user_changed",
                    "actor_id": actor_id,
                    "user_id": target.id,
                    "changes": sorted(changes),
                },
            )
        return updated
