"""Settings of the auth service (environment variables, see services/auth/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator

from supply_common.settings import MySQLSettings, ProductionGuard, ServiceSettings

OWASP_MIN_MEMORY_KIB = 19 * 1024
OWASP_MIN_TIME_COST = 2
MAX_ACCESS_TOKEN_TTL_S = 300


class AuthSettings(ServiceSettings, MySQLSettings, ProductionGuard):
    port: int = 8001
    mysql_database: str = Field("auth", min_length=1)
    required_in_production: tuple[str, ...] = ("auth_keys_dir", "mysql_url")

    auth_keys_dir: Path | None = Field(
        None, description="Folder of Ed25519 PEM signing keys. Development default: <repo>/.stack/auth/keys."
    )
    auth_issuer: str = "supply-store-auth"
    auth_audience: str = "supply-store"
    auth_access_token_ttl_s: int = Field(300, ge=1, le=MAX_ACCESS_TOKEN_TTL_S)
    auth_refresh_token_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="Absolute lifetime of a login.")

    auth_argon2_memory_kib: int = Field(OWASP_MIN_MEMORY_KIB, ge=OWASP_MIN_MEMORY_KIB)
    auth_argon2_time_cost: int = Field(OWASP_MIN_TIME_COST, ge=OWASP_MIN_TIME_COST)
    auth_argon2_parallelism: int = Field(1, ge=1, le=8)
    auth_max_concurrent_hashes: int = Field(
        0, ge=0, description="Hashes run at once, each holding AUTH_ARGON2_MEMORY_KIB. 0: one per CPU."
    )

    auth_throttle_window_s: int = Field(900, ge=1, description="Failures older than this are forgotten.")
    auth_account_slowdown_after: int = Field(3, ge=1)
    auth_account_lock_after: int = Field(5, ge=1)
    auth_address_slowdown_after: int = Field(10, ge=1)
    auth_address_lock_after: int = Field(30, ge=1)
    auth_slowdown_base_s: int = Field(1, ge=1)
    auth_lock_base_s: int = Field(60, ge=1)
    auth_lock_max_s: int = Field(900, ge=1)
    auth_trusted_proxies: tuple[str, ...] = Field(
        ("127.0.0.1", "::1"),
        description="Addresses or networks (CIDR) whose X-Forwarded-For (last entry) names the client address.",
    )

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> AuthSettings:
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
        return _repo_root() / ".stack" / "auth" / "keys"


def _repo_root() -> Path:
    configured = os.environ.get("SUPPLY_REPO_ROOT")
    if configured:
        return Path(configured)
    for candidate in (Path.cwd(), *Path.cwd().parents):
        if (candidate / "deploy" / "local" / "stack").is_file():
            return candidate
    return Path.cwd()
