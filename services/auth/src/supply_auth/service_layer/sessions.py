"""Use cases of a login: sign in with the throttle, refresh rotation, logout. Every token pair a
user gets starts here (`start`): a family of refresh tokens with an absolute expiry."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
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
    """A throttle subject: `account` with a normalised email, `address` with a client address, or
    `account-address` with both."""
    return hashlib.sha256(f"{kind}:{value}".encode()).digest()


@dataclass(frozen=True)
class Subjects:
    """What one login attempt is counted against, as stored: hashes, never the email or address."""

    account_address: bytes
    account: bytes
    address: bytes

    @classmethod
    def of(cls, email: str, client: str) -> Subjects:
        return cls(
            subject("account-address", f"{email}\n{client}"), subject("account", email), subject("address", client)
        )


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


@dataclass(kw_only=True, eq=False)
class Sessions:
    uow: Callable[[], UnitOfWork]
    hasher: Hasher
    tokens: TokenIssuer
    throttle: ThrottlePolicy
    refresh_ttl_s: int
    clock: Clock
    known_address_ttl_s: int = 90 * 24 * 3600
    """An address the account has not signed in from for this long is no longer known."""
    sleep: Callable[[float], None] = time.sleep

    def now(self) -> datetime:
        return utc_now(self.clock)

    def start(self, uow: UnitOfWork, user: User, now: datetime) -> TokenPair:
        """A new login of `user` inside the caller's unit of work: a refresh-token family and its first
        token, and an access token. Nothing holds unless the caller commits."""
        family_id = new_user_id()
        uow.refresh_tokens.start_family(family_id, user.id, now, now + timedelta(seconds=self.refresh_ttl_s))
        return self._pair(user, family_id, self._add_refresh_token(uow, family_id, now))

    def remember_address(self, uow: UnitOfWork, user_id: str, client: str, now: datetime) -> None:
        """Make `client` one of the user's known addresses, inside the caller's unit of work."""
        forget_before = now - timedelta(seconds=self.known_address_ttl_s)
        uow.known_addresses.remember(user_id, subject("address", client), now, forget_before=forget_before)

    def login(self, *, email: str, password: str, client: str) -> TokenPair:
        """Tokens for a correct email and password of a confirmed account. Unknown email, wrong
        password, an account without a password yet (registered, link not used) and a disabled
        account are one failure to the caller, and cost the same hash verification.

        The attempt is counted before the password is checked, in the transaction that looks at the
        waits, so attempts running at the same time cannot all pass one look: each either finds its
        subjects blocked or counts itself. A correct password takes its count back afterwards, and
        makes `client` one of the account's known addresses, which the account-wide limit only
        slows down (a short wait inside the request), never refuses."""
        email = normalise_email(email)
        subjects = Subjects.of(email, client)
        reservation, user, delay = self._count_attempt(subjects, email, client)
        if delay > 0:
            self.sleep(delay)
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
                uow.users.update(user.id, now, password_hash=new_hash, last_login_at=now)
            else:
                uow.users.update(user.id, now, last_login_at=now)
            uow.attempts.clear(subjects.account_address)
            for counted in (subjects.account, subjects.address):
                uow.attempts.uncount(counted, *reservation[counted])
            self.remember_address(uow, user.id, client, now)
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
        self, subjects: Subjects, email: str, client: str
    ) -> tuple[dict[bytes, tuple[Attempts, Attempts]], User | None, float]:
        """Count one attempt against its three subjects in one transaction, unless one that may
        refuse it must still wait (then Throttled, and nothing is counted). The account-wide count
        refuses only addresses the account has not signed in from; a known address is held for
        a short delay instead. Returns each subject's counter as counted and as it was before, the
        account's user if there is one, and the seconds to hold the attempt."""
        policy = self.throttle
        limits = {
            subjects.account_address: policy.account_address,
            subjects.account: policy.account,
            subjects.address: policy.address,
        }
        for attempt in range(LOCK_RETRIES):
            now = self.now()
            try:
                with self.uow() as uow:
                    # The account's row first: attempts on one account queue there, so that rows
                    # of their own addresses, inserted next, never wait for each other in a circle.
                    before = uow.attempts.lock([subjects.account], now)
                    before.update(uow.attempts.lock([subjects.account_address, subjects.address], now))
                    user = uow.users.by_email(email)
                    known = user is not None and uow.known_addresses.is_known(
                        user.id, subjects.address, since=now - timedelta(seconds=self.known_address_ttl_s)
                    )
                    refusing = [subjects.account_address, subjects.address]
                    if not known:
                        refusing.append(subjects.account)
                    waits = [before[s].blocked_until for s in refusing if before[s].blocked_at(now)]
                    if waits:
                        raise self._throttled(max(w for w in waits if w is not None) - now, email, client)
                    delay = policy.known_address_delay(before[subjects.account], now) if known else 0.0
                    counted: dict[bytes, tuple[Attempts, Attempts]] = {}
                    for key, subject_limits in limits.items():
                        counted[key] = (policy.count(before[key], subject_limits, now), before[key])
                        uow.attempts.save(key, counted[key][0])
                    uow.commit()
                return counted, user, delay
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

    def _pair(self, user: User, family_id: str, refresh_token: str) -> TokenPair:
        access = self.tokens.issue(
            user_id=user.id,
            role=user.role,
            email=user.email,
            session_id=family_id,
            generation=user.token_generation,
        )
        return TokenPair(access_token=access, refresh_token=refresh_token, expires_in=self.tokens.ttl_s)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair. A token used twice revokes its whole family, and
        the access tokens of that family are refused from then on."""
        token_hash = hashlib.sha256(refresh_token.encode()).digest()
        now = self.now()
        with self.uow() as uow:
            row = uow.refresh_tokens.find_for_update(token_hash)
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise InvalidRefreshToken
            if row.used_at is not None:
                uow.refresh_tokens.revoke_family(row.family_id, now, "reuse")
                uow.events.record("account.session_revoked", row.user_id, now)
                uow.commit()
                log.warning(
                    "refresh token reused; family revoked",
                    extra={"event": "refresh.reuse", "user_id": row.user_id, "family_id": row.family_id},
                )
                raise InvalidRefreshToken
            user = uow.users.get(row.user_id)
            if user is None or user.disabled:
                uow.refresh_tokens.revoke_family(row.family_id, now, "disabled")
                if user is not None:
                    uow.events.record("account.session_revoked", user.id, now)
                uow.commit()
                raise InvalidRefreshToken
            uow.refresh_tokens.mark_used(token_hash, now)
            new_token = self._add_refresh_token(uow, row.family_id, now)
            uow.commit()
        return self._pair(user, row.family_id, new_token)

    def logout(self, *, user_id: str, refresh_token: str) -> None:
        """Revoke the refresh token's family, if it is the caller's: that refresh token and the access
        tokens of the same login are refused from then on. Unknown tokens are ignored."""
        token_hash = hashlib.sha256(refresh_token.encode()).digest()
        with self.uow() as uow:
            row = uow.refresh_tokens.find_for_update(token_hash)
            if row is not None and row.user_id == user_id:
                now = self.now()
                uow.refresh_tokens.revoke_family(row.family_id, now, "logout")
                uow.events.record("account.logged_out", user_id, now)
                uow.commit()
                log.info("logged out", extra={"event": "logout", "user_id": user_id})
