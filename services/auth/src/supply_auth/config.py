"""Settings of the auth service (environment variables, see services/auth/README.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from supply_common.settings import KafkaSettings, MySQLSettings, ProductionGuard, ServiceSettings, repo_root

OWASP_MIN_MEMORY_KIB = 19 * 1024
OWASP_MIN_TIME_COST = 2
MAX_ACCESS_TOKEN_TTL_S = 300


class AuthSettings(ServiceSettings, MySQLSettings, KafkaSettings, ProductionGuard):
    port: int = 8001
    mysql_database: str = Field("auth", min_length=1)
    required_in_production: tuple[str, ...] = (
        "auth_keys_dir",
        "mysql_url",
        "auth_smtp_url",
        "auth_mail_from",
        "auth_public_base_url",
    )

    auth_keys_dir: Path | None = Field(
        None, description="Folder of Ed25519 PEM signing keys. Development default: <repo>/.stack/auth/keys."
    )
    auth_issuer: str = "supply-store-auth"
    auth_audience: str = "supply-store"
    auth_access_token_ttl_s: int = Field(300, ge=1, le=MAX_ACCESS_TOKEN_TTL_S)
    auth_service_audience: str = Field("supply-store-service", description="Audience of service credentials.")
    auth_refresh_token_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="Absolute lifetime of a login.")

    auth_relay_enabled: bool = Field(
        True,
        description="Publish the account events of the outbox to ACCOUNT_EVENTS_TOPIC from this server process"
        " (one process at a time publishes, the others stand by).",
    )

    auth_argon2_memory_kib: int = Field(OWASP_MIN_MEMORY_KIB, ge=OWASP_MIN_MEMORY_KIB)
    auth_argon2_time_cost: int = Field(OWASP_MIN_TIME_COST, ge=OWASP_MIN_TIME_COST)
    auth_argon2_parallelism: int = Field(1, ge=1, le=8)
    auth_max_concurrent_hashes: int = Field(
        0, ge=0, description="Hashes run at once, each holding AUTH_ARGON2_MEMORY_KIB. 0: one per CPU."
    )

    auth_throttle_window_s: int = Field(900, ge=1, description="Failures older than this are forgotten.")
    auth_account_address_slowdown_after: int = Field(
        3, ge=1, description="Failures of one account from one client address before that address waits."
    )
    auth_account_address_lock_after: int = Field(
        5, ge=1, description="Failures of one account from one client address before that address is locked."
    )
    auth_account_slowdown_after: int = Field(
        10, ge=1, description="Failures of one account from every address before sign-ins to it are slowed down."
    )
    auth_account_lock_after: int = Field(
        30,
        ge=1,
        description="Failures of one account from every address before addresses it never signed in from are"
        " locked; the addresses it signed in from are only slowed down.",
    )
    auth_address_slowdown_after: int = Field(10, ge=1)
    auth_address_lock_after: int = Field(30, ge=1)
    auth_slowdown_base_s: int = Field(1, ge=1)
    auth_lock_base_s: int = Field(60, ge=1)
    auth_lock_max_s: int = Field(900, ge=1)
    auth_known_address_delay_max_s: int = Field(
        2,
        ge=0,
        le=10,
        description="The longest a sign-in from an address the account signed in from before is held while the"
        " account-wide limit asks for a wait (it is never refused for it).",
    )
    auth_known_address_ttl_s: int = Field(
        90 * 24 * 3600,
        ge=60,
        description="An address the account has not signed in from for this long is no longer known.",
    )

    auth_public_base_url: str = Field(
        "http://127.0.0.1:8000",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Where users reach the gateway; the links in mail start with it.",
    )
    auth_email_confirmation_ttl_s: int = Field(
        24 * 3600,
        ge=60,
        description="How long a password link works (the mailed link with which a new account's password is chosen).",
    )
    auth_register_answer_s: float = Field(
        0.15,
        ge=0,
        le=5,
        description="Least time before POST /register answers, whatever the address holds: a new account is"
        " written and committed, a known one is not, and the answer's time must not tell them apart.",
    )
    auth_smtp_url: SecretStr | None = Field(
        None,
        description="smtp://user:password@host:587 of the mail server (STARTTLS is required; user and password"
        " percent-encoded). Unset: mail goes to the mail drop folder instead. Required in production.",
    )
    auth_mail_from: str = Field(
        "Supply Store <no-reply@supply-store.invalid>",
        min_length=3,
        description="The From address of the mail auth sends. Required in production.",
    )
    auth_mail_dir: Path | None = Field(
        None,
        description="The mail drop: one .eml file per message, when AUTH_SMTP_URL is unset."
        " Development default: <repo>/.stack/mail.",
    )

    @field_validator("auth_smtp_url", "auth_mail_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _mail_server_in_production(self) -> AuthSettings:
        if self.environment == "production" and self.auth_smtp_url is None:
            raise ValueError("set AUTH_SMTP_URL in production: mail must reach real inboxes")
        return self

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> AuthSettings:
        if self.auth_account_address_lock_after < self.auth_account_address_slowdown_after:
            raise ValueError("AUTH_ACCOUNT_ADDRESS_LOCK_AFTER must be >= AUTH_ACCOUNT_ADDRESS_SLOWDOWN_AFTER")
        if self.auth_account_lock_after < self.auth_account_slowdown_after:
            raise ValueError("AUTH_ACCOUNT_LOCK_AFTER must be >= AUTH_ACCOUNT_SLOWDOWN_AFTER")
        if self.auth_address_lock_after < self.auth_address_slowdown_after:
            raise ValueError("AUTH_ADDRESS_LOCK_AFTER must be >= AUTH_ADDRESS_SLOWDOWN_AFTER")
        if self.auth_lock_max_s < self.auth_lock_base_s:
            raise ValueError("AUTH_LOCK_MAX_S must be >= AUTH_LOCK_BASE_S")
        return self

    def keys_dir(self) -> Path:
        """The signing-key folder; outside development it must be configured."""
        if self.auth_keys_dir is not None:
            return self.auth_keys_dir
        if self.environment != "development":
            raise RuntimeError("set AUTH_KEYS_DIR outside development")
        return repo_root() / ".stack" / "auth" / "keys"

    def mail_dir(self) -> Path:
        """The mail drop folder; outside development it must be configured."""
        if self.auth_mail_dir is not None:
            return self.auth_mail_dir
        if self.environment != "development":
            raise RuntimeError("set AUTH_SMTP_URL, or AUTH_MAIL_DIR for a mail drop, outside development")
        return repo_root() / ".stack" / "mail"
