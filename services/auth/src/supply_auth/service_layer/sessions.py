"""Use cases of a login: sign in with the throttle, refresh rotation, logout. Every token pair a
user gets starts here (`start`): a family of refresh tokens with an absolute expiry."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from supply_auth.domain.model import User, new_user_id, normalise_email
from supply_auth.domain.throttle import Attempts, ThrottlePolicy
from supply_auth.service_layer.errors import InvalidCredentials, InvalidRefreshToken, Throttled
from supply_auth.service_layer.ports import Hasher, TokenIssuer, TransactionConflict, UnitOfWork

log = logging.getLogger("supply_auth.events")

LOCK_RETRIES = 3
"""Times a transaction is tried when the store ends it to resolve a lock conflict."""

Clock = Callable[[], float]
"""Seconds since the epoch, like `time.time`."""


def utc_now(clock: Clock) -> datetime:
    """The clock's time as the naive UTC datetime the store keeps."""
    return datetime.fromtimestamp(clock(), UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


def subject(kind: str, value: str) -> bytes:
    """A throttle subject: `account` with a normalised email, or `address` with a client address."""
    return hashlib.sha256(f"{kind}:{value}".encode()).digest()


def email_fingerprint(email: str) -> str:
    """A short hash of a normalised email, for logs that must not hold the address."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:16]


def _failure(user: User | None, matches: bool) -> str:
    """Why a login failed, for the log."""
    if user is None:
        return "unknown_email"
    if user.password_hash is None:
        return "no_password"
    if not matches:
        return "wrong_password"
    return "disabled" if user.disabled else "unconfirmed"


class Sessions:
    def __init__(
        self,
        *,
        uow: Callable[[], UnitOfWork],
        hasher: Hasher,
        tokens: TokenIssuer,
        throttle: ThrottlePolicy,
        refresh_ttl_s: int,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle
        self.refresh_ttl_s = refresh_ttl_s
        self.clock = clock

    def now(self) -> datetime:
        return utc_now(self.clock)

    def start(self, uow: UnitOfWork, user: User, now: datetime) -> TokenPair:
        """A new login of `user` inside the caller's unit of work: a refresh-token family and its first
        token, and an access token. Nothing holds unless the caller commits."""
        family_id = new_user_id()
        uow.refresh_tokens.start_family(family_id, user.id, now, now + timedelta(seconds=self.refresh_ttl_s))
        return self._pair(user, self._add_refresh_token(uow, family_id, now))

    def login(self, *, email: str, password: str, client: str) -> TokenPair:
        """Tokens for a correct email and password of a confirmed account. Unknown email, wrong
        password, an account without a password yet (registered, link not used) and a disabled
        account are one failure to the caller, and cost the same hash verification.

        The attempt is counted before the password is checked, in the transaction that looks at the
        waits, so attempts running at the same time cannot all pass one look: each either finds its
        subjects blocked or counts itself. A correct password takes its count back afterwards."""
        email = normalise_email(email)
        account, address = subject("account", email), subject("address", client)
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
            pair = self.start(uow, user, now)
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
        return pair

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
            except TransactionConflict:
                if attempt == LOCK_RETRIES - 1:
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
