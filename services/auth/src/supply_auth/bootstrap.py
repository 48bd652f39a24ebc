"""The composition root: settings in, a `Container` of wired adapters and use cases out. The app, the
command line and the tests all call `bootstrap`; tests pass their own settings and pieces."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from supply_auth.adapters.common_passwords import common_passwords
from supply_auth.adapters.hashing import Argon2Parameters, PasswordHasher
from supply_auth.adapters.keys import KeyStore, PublishedKeys, TokenService
from supply_auth.adapters.mail import MailDrop, Mailer, MailSender, SmtpMailer
from supply_auth.adapters.unit_of_work import AccountEventsConfig, SqlUnitOfWork
from supply_auth.config import MAX_ACCESS_TOKEN_TTL_S, AuthSettings
from supply_auth.domain.throttle import Limits, ThrottlePolicy
from supply_auth.service_layer.accounts import Accounts
from supply_auth.service_layer.sessions import Sessions
from supply_auth.service_layer.staff import Staff
from supply_common.db import make_engine
from supply_common.kafka import make_producer
from supply_common.outbox_relay import OutboxRelay
from supply_common.publish_lock import PublishLock
from supply_common.tokens import TokenVerifier

KEY_RETENTION_S = MAX_ACCESS_TOKEN_TTL_S + 60
"""How long a replaced key stays published: the longest token lifetime plus clock skew."""
REVOKED_SESSION_WINDOW = timedelta(seconds=MAX_ACCESS_TOKEN_TTL_S + 60)
"""How long a revoked session stays in its account's events: after that, no access token of it can
still be unexpired (the longest token lifetime plus clock skew)."""


@dataclass
class Container:
    settings: AuthSettings
    engine: Engine
    keys: KeyStore
    tokens: TokenService
    hasher: PasswordHasher
    mail: MailSender
    callers: TokenVerifier
    """Checks the service credentials callers send (the gateway's, vouching for the client's address)
    against auth's own published keys: the verifier every other service uses."""
    accounts: Accounts
    sessions: Sessions
    staff: Staff
    relay: OutboxRelay
    """Publishes the account events; runs in the app's lifespan when AUTH_RELAY_ENABLED."""

    def close(self) -> None:
        self.mail.close()
        self.hasher.close()
        self.engine.dispose()


def key_store(settings: AuthSettings, clock: Callable[[], float] = time.time) -> KeyStore:
    return KeyStore(settings.keys_dir(), retention_s=KEY_RETENTION_S, clock=clock)


def mailer(settings: AuthSettings) -> Mailer:
    """SMTP when AUTH_SMTP_URL is set (production must set it), else the mail drop folder."""
    if settings.auth_smtp_url is not None:
        return SmtpMailer(settings.auth_smtp_url.get_secret_value(), settings.auth_mail_from)
    return MailDrop(settings.mail_dir(), settings.auth_mail_from)


def callers_verifier(settings: AuthSettings, keys: KeyStore) -> TokenVerifier:
    """The verifier every service uses, over the keys this auth publishes (in process, no hop)."""
    return TokenVerifier(
        PublishedKeys(keys),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        service_audience=settings.auth_service_audience,
    )


def throttle_policy(settings: AuthSettings) -> ThrottlePolicy:
    return ThrottlePolicy(
        window_s=settings.auth_throttle_window_s,
        account_address=Limits(settings.auth_account_address_slowdown_after, settings.auth_account_address_lock_after),
        account=Limits(settings.auth_account_slowdown_after, settings.auth_account_lock_after),
        address=Limits(settings.auth_address_slowdown_after, settings.auth_address_lock_after),
        slowdown_base_s=settings.auth_slowdown_base_s,
        lock_base_s=settings.auth_lock_base_s,
        lock_max_s=settings.auth_lock_max_s,
        known_address_delay_max_s=settings.auth_known_address_delay_max_s,
    )


def bootstrap(
    settings: AuthSettings | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], float] = time.time,
    require_keys: bool = True,
    mail: Mailer | None = None,
) -> Container:
    """Wire everything, from the environment's settings unless given. With `require_keys`, a
    missing signing key fails now (a development setup makes its first key instead). Mail goes
    through `mail` if given, else as the settings say."""
    settings = settings or AuthSettings()
    sender = MailSender(mail or mailer(settings))
    engine = engine or make_engine(settings)
    keys = key_store(settings, clock)
    if require_keys:
        keys.ensure(create=settings.environment == "development")
    tokens = TokenService(
        keys, issuer=settings.auth_issuer, audience=settings.auth_audience, ttl_s=settings.auth_access_token_ttl_s
    )
    hasher = PasswordHasher(
        Argon2Parameters(
            memory_kib=settings.auth_argon2_memory_kib,
            time_cost=settings.auth_argon2_time_cost,
            parallelism=settings.auth_argon2_parallelism,
        ),
        max_concurrent=settings.auth_max_concurrent_hashes,
    )

    # The relay runs in the server process: account changes are few, so a process of its own would
    # buy nothing, and a commit here wakes it directly.
    relay = OutboxRelay(
        engine, lambda: make_producer(settings, request_timeout_ms=5_000, linger_ms=0), PublishLock(engine)
    )
    events = AccountEventsConfig(settings.account_events_topic, REVOKED_SESSION_WINDOW, committed=relay.wake)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, events)

    sessions = Sessions(
        uow=uow,
        hasher=hasher,
        tokens=tokens,
        throttle=throttle_policy(settings),
        refresh_ttl_s=settings.auth_refresh_token_ttl_s,
        clock=clock,
        known_address_ttl_s=settings.auth_known_address_ttl_s,
    )
    accounts = Accounts(
        uow=uow,
        hasher=hasher,
        sessions=sessions,
        common_passwords=common_passwords(),
        clock=clock,
        mail=sender,
        public_base_url=settings.auth_public_base_url,
        link_ttl_s=settings.auth_email_confirmation_ttl_s,
    )
    return Container(
        settings=settings,
        engine=engine,
        keys=keys,
        tokens=tokens,
        hasher=hasher,
        mail=sender,
        callers=callers_verifier(settings, keys),
        accounts=accounts,
        sessions=sessions,
        staff=Staff(uow=uow, accounts=accounts, clock=clock),
        relay=relay,
    )
