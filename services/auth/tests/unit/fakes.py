"""In-memory fakes of the service layer's ports (`supply_auth.service_layer.ports`), and the use cases
wired over them. A fake unit of work works on a copy of the store and keeps it only on `commit()`,
as a transaction does."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any

from supply_auth.domain.model import PasswordLink, RefreshGrant, User
from supply_auth.domain.throttle import Attempts, Limits, ThrottlePolicy
from supply_auth.service_layer.accounts import Accounts
from supply_auth.service_layer.ports import DuplicateEmail, Mail, TransactionConflict, UserQuery
from supply_auth.service_layer.sessions import Sessions
from supply_auth.service_layer.staff import Staff
from supply_common.identity import Role
from supply_common.testing.clock import ManualClock

COMMON = frozenset({"password1234", "qwerty123456"})
LINK = re.compile(r"https?://\S+")
START = 1_800_000_000.0
EMAIL = "ada@example.com"
PASSWORD = "analytical engine 1843"
STRANGER = "mallory's own passphrase"


@dataclass
class Family:
    user_id: str
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


@dataclass
class State:
    users: dict[str, User] = field(default_factory=dict)
    links: dict[str, PasswordLink] = field(default_factory=dict)
    families: dict[str, Family] = field(default_factory=dict)
    tokens: dict[bytes, tuple[str, datetime | None]] = field(default_factory=dict)
    attempts: dict[bytes, Attempts] = field(default_factory=dict)
    known: dict[tuple[str, bytes], datetime] = field(default_factory=dict)
    events: list[tuple[str, str, int]] = field(default_factory=list)
    """(event type, user id, token generation) of the account events committed, in order."""


class FakeUsers:
    def __init__(self, state: State) -> None:
        self.state = state

    def add(self, user: User, now: datetime) -> None:
        if any(u.email == user.email for u in self.state.users.values()):
            raise DuplicateEmail(user.email)
        self.state.users[user.id] = user

    def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        return self.state.users.get(user_id)

    def by_email(self, email: str) -> User | None:
        return next((u for u in self.state.users.values() if u.email == email), None)

    def end_tokens(self, user_id: str) -> int:
        user = self.state.users[user_id]
        self.state.users[user_id] = replace(user, token_generation=user.token_generation + 1)
        return user.token_generation + 1

    def _matching(self, query: UserQuery) -> list[User]:
        needle = query.search.lower()
        return [
            u
            for u in self.state.users.values()
            if (not query.roles or u.role in query.roles)
            and (needle in u.email.lower() or needle in u.name.lower())
            and (query.after is None or u.id > query.after)
        ]

    def page(self, query: UserQuery) -> list[User]:
        def key(u: User) -> tuple[Any, str]:
            value = {"created": u.id, "name": u.name, "email": u.email, "last_login": u.last_login_at}[query.sort]
            return (value is not None, value or ""), u.id

        found = sorted(self._matching(query), key=key, reverse=query.descending)
        return found[query.offset : query.offset + query.limit]

    def count(self, query: UserQuery) -> int:
        return len(self._matching(replace(query, after=None)))

    def update(self, user_id: str, now: datetime, **values: Any) -> None:
        self.state.users[user_id] = replace(self.state.users[user_id], **values)

    def lock_active_admins(self, role: Role) -> list[str]:
        return [u.id for u in self.state.users.values() if u.role == role and not u.disabled]


class FakeLinks:
    def __init__(self, state: State) -> None:
        self.state = state

    def replace(self, user_id: str, token_hash: bytes, now: datetime, expires_at: datetime) -> None:
        self.state.links[user_id] = PasswordLink(user_id, token_hash, expires_at)

    def by_token(self, token_hash: bytes) -> PasswordLink | None:
        return next((link for link in self.state.links.values() if link.token_hash == token_hash), None)

    def of_user(self, user_id: str) -> PasswordLink | None:
        return self.state.links.get(user_id)

    def delete(self, user_id: str) -> None:
        self.state.links.pop(user_id, None)


class FakeRefreshTokens:
    def __init__(self, state: State) -> None:
        self.state = state

    def start_family(self, family_id: str, user_id: str, now: datetime, expires_at: datetime) -> None:
        self.state.families[family_id] = Family(user_id, expires_at)

    def add(self, token_hash: bytes, family_id: str, now: datetime) -> None:
        self.state.tokens[token_hash] = (family_id, None)

    def find_for_update(self, token_hash: bytes) -> RefreshGrant | None:
        if token_hash not in self.state.tokens:
            return None
        family_id, used_at = self.state.tokens[token_hash]
        family = self.state.families[family_id]
        return RefreshGrant(family_id, family.user_id, used_at, family.expires_at, family.revoked_at)

    def mark_used(self, token_hash: bytes, now: datetime) -> None:
        self.state.tokens[token_hash] = (self.state.tokens[token_hash][0], now)

    def revoke_family(self, family_id: str, now: datetime, reason: str) -> None:
        family = self.state.families[family_id]
        if family.revoked_at is None:
            family.revoked_at, family.revoked_reason = now, reason

    def revoke_user(self, user_id: str, now: datetime, reason: str) -> int:
        live = [f for f in self.state.families.values() if f.user_id == user_id and f.revoked_at is None]
        for family in live:
            family.revoked_at, family.revoked_reason = now, reason
        return len(live)

    def purge_expired(self, now: datetime, limit: int = 1000) -> None:
        for family_id in [i for i, f in self.state.families.items() if f.expires_at < now][:limit]:
            del self.state.families[family_id]
            self.state.tokens = {t: v for t, v in self.state.tokens.items() if v[0] != family_id}


class FakeAttempts:
    def __init__(self, state: State) -> None:
        self.state = state

    def lock(self, subjects: Sequence[bytes], now: datetime) -> dict[bytes, Attempts]:
        for subject in subjects:
            self.state.attempts.setdefault(subject, Attempts(0, now, None))
        return {subject: self.state.attempts[subject] for subject in subjects}

    def save(self, subject: bytes, attempts: Attempts) -> None:
        self.state.attempts[subject] = attempts

    def uncount(self, subject: bytes, counted: Attempts, before: Attempts) -> None:
        current = self.state.attempts[subject]
        blocked = before.blocked_until if current.blocked_until == counted.blocked_until else current.blocked_until
        self.state.attempts[subject] = Attempts(max(current.failures - 1, 0), current.window_started_at, blocked)

    def clear(self, subject: bytes) -> None:
        self.state.attempts.pop(subject, None)

    def purge_stale(self, now: datetime, cutoff: datetime, chance: float = 0.01) -> None:
        pass


class FakeKnownAddresses:
    def __init__(self, state: State) -> None:
        self.state = state

    def remember(self, user_id: str, address: bytes, now: datetime, *, forget_before: datetime) -> None:
        self.state.known[(user_id, address)] = now
        for key in [k for k, seen in self.state.known.items() if k[0] == user_id and seen < forget_before]:
            del self.state.known[key]

    def is_known(self, user_id: str, address: bytes, *, since: datetime) -> bool:
        seen = self.state.known.get((user_id, address))
        return seen is not None and seen >= since


class FakeEvents:
    def __init__(self, state: State) -> None:
        self.state = state

    def record(self, event_type: str, user_id: str, now: datetime) -> None:
        self.state.events.append((event_type, user_id, self.state.users[user_id].token_generation))


class Store:
    """What the database holds between units of work."""

    def __init__(self) -> None:
        self.state = State()
        self.conflicts_to_raise = 0
        """The next this many units of work end in TransactionConflict, as a deadlock would end them."""

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeUnitOfWork:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> FakeUnitOfWork:
        self._work = copy.deepcopy(self.store.state)
        self.users = FakeUsers(self._work)
        self.links = FakeLinks(self._work)
        self.refresh_tokens = FakeRefreshTokens(self._work)
        self.attempts = FakeAttempts(self._work)
        self.known_addresses = FakeKnownAddresses(self._work)
        self.events = FakeEvents(self._work)
        return self

    def commit(self) -> None:
        if self.store.conflicts_to_raise:
            self.store.conflicts_to_raise -= 1
            raise TransactionConflict("deadlock")
        self.store.state = copy.deepcopy(self._work)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass


class FakeHasher:
    """Reversible "hashes", and a count of verifications (each costs as much as a real one would)."""

    def __init__(self) -> None:
        self.verified = 0

    def hash(self, password: str) -> str:
        return f"fake${password}"

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        self.verified += 1
        return stored == f"fake${password}", None


class FakeTokens:
    ttl_s = 300

    def issue(self, *, user_id: str, role: str, email: str, session_id: str, generation: int) -> str:
        return f"access:{user_id}:{role}:{email}:{session_id}:{generation}"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[Mail, dict[str, object]]] = []

    def send(self, mail: Mail, **log_fields: object) -> None:
        self.sent.append((mail, log_fields))

    def to(self, address: str) -> list[Mail]:
        return [mail for mail, _ in self.sent if mail.to == address]

    def token_to(self, address: str) -> str:
        """The token of the link in the newest mail to `address`."""
        found = LINK.search(self.to(address)[-1].text)
        assert found is not None, "no link in the mail"
        return found.group(0).split("token=", 1)[1]


class Clock(ManualClock):
    def __init__(self) -> None:
        super().__init__(START)
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        """What the use cases' `sleep` does here: time passes, and the test sees how long it was held."""
        self.slept.append(seconds)
        self.advance(seconds)


@dataclass
class World:
    store: Store
    hasher: FakeHasher
    outbox: Outbox
    clock: Clock
    accounts: Accounts
    sessions: Sessions
    staff: Staff


def world(
    *,
    slowdown_after: int = 3,
    lock_after: int = 5,
    account_limits: Limits = Limits(100, 200),
    link_ttl_s: int = 3600,
) -> World:
    """The use cases over fresh fakes, with a throttle that locks an account at one address after
    `lock_after` failures (and, everywhere, after `account_limits`)."""
    store, hasher, outbox, clock = Store(), FakeHasher(), Outbox(), Clock()
    sessions = Sessions(
        uow=store.uow,
        hasher=hasher,
        tokens=FakeTokens(),
        throttle=ThrottlePolicy(
            window_s=900,
            account_address=Limits(slowdown_after, lock_after),
            account=account_limits,
            address=Limits(100, 200),
            slowdown_base_s=1,
            lock_base_s=60,
            lock_max_s=900,
        ),
        refresh_ttl_s=7 * 24 * 3600,
        clock=clock,
        sleep=clock.sleep,
    )
    accounts = Accounts(
        uow=store.uow,
        hasher=hasher,
        sessions=sessions,
        common_passwords=COMMON,
        clock=clock,
        mail=outbox,
        public_base_url="https://store.example.com",
        link_ttl_s=link_ttl_s,
    )
    staff = Staff(uow=store.uow, accounts=accounts, clock=clock)
    return World(store, hasher, outbox, clock, accounts, sessions, staff)


def user_id(w: World, email: str = EMAIL) -> str:
    return next(u.id for u in w.store.state.users.values() if u.email == email)


def registered(w: World, name: str, email: str = EMAIL) -> str:
    """Register `email` as `name`: the token of the link then mailed to it."""
    w.accounts.register(email=email, name=name)
    return w.outbox.token_to(email)


def manager(w: World, email: str = "boss@example.com") -> str:
    return w.accounts.create_account(email=email, password=PASSWORD, name="Boss", role="senior_management").id
