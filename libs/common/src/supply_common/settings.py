"""The settings base each service subclasses. Values come from the environment (see .env.example)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(1_048_576, description="Requests with larger bodies get 413.")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes sharing the port; one per core uses every core. `auto`: one per core"
        " less one (left to the databases and other services on the machine), at least 1, at most 4.",
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_workers(cls, value: Any) -> Any:
        return auto_workers() if isinstance(value, str) and value.strip().lower() == "auto" else value


def auto_workers() -> int:
    """Server processes for a CPU-bound service sharing its machine: a core each, less one, 1 to 4."""
    return max(1, min((os.cpu_count() or 1) - 1, 4))


class MySQLSettings(BaseSettings):
    """`MYSQL_URL` names the server and credentials; each service appends its own database."""

    mysql_url: SecretStr = SecretStr("mysql+pymysql://supply@127.0.0.1:3306")
    mysql_database: str = "sales"
    mysql_pool_size: int = 20
    mysql_connect_timeout_s: int = 3

    def database_url(self) -> str:
        from sqlalchemy.engine import make_url  # SQLAlchemy only where a database URL is needed

        url = make_url(self.mysql_url.get_secret_value()).set(database=self.mysql_database)
        return url.update_query_dict({"charset": "utf8mb4"}).render_as_string(hide_password=False)


class KafkaSettings(BaseSettings):
    """The broker and who the client is. With a SASL protocol the client authenticates as `KAFKA_USERNAME`
    (one principal per service, each allowed only its own topics and group); PLAINTEXT is for a broker
    that asks nobody (a throwaway test container)."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")
    sales_topic: str = "sales.events"
    dlq_topic: str = "sales.events.dlq"
    account_events_topic: str = "auth.account-events"
    sales_topic_partitions: int = 6

    @model_validator(mode="after")
    def _credentials_with_sasl(self) -> KafkaSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_username and self.kafka_password.get_secret_value()
        ):
            protocol = self.kafka_security_protocol
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_USERNAME and KAFKA_PASSWORD")
        return self

    def kafka_client_options(self) -> dict[str, Any]:
        """Keyword arguments of every aiokafka client (producer, consumer, admin): the address and the
        authentication."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL_"):
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_username,
                "sasl_plain_password": self.kafka_password.get_secret_value(),
            }
        return options


class RevocationSettings(KafkaSettings):
    """Kafka settings of a service that verifies access tokens and refuses those revoked before they
    expire, as auth's account events (`ACCOUNT_EVENTS_TOPIC`) say (`supply_common.revocations`)."""

    revocations_enabled: bool = Field(
        True,
        description="Refuse access tokens revoked before they expire, as auth's account events"
        " (ACCOUNT_EVENTS_TOPIC) say; tokens are answered 503 until the topic has been replayed.",
    )
    revocations_replay_wait_s: float = Field(
        30.0, ge=0, description="How long start-up waits for the replay of the account events before serving."
    )


class MongoSettings(BaseSettings):
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    mongo_database: str = "supply_store"


class ProductionGuard(BaseSettings):
    """Mixin: settings listed in `required_in_production` must be set explicitly outside development."""

    required_in_production: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _required_outside_development(self) -> ProductionGuard:
        if getattr(self, "environment", "development") == "production":
            missing = [name for name in self.required_in_production if name not in self.model_fields_set]
            if missing:
                raise ValueError(f"set {', '.join(n.upper() for n in missing)} in production")
        return self


SERVICE_TOKENS_DIR = Path(".stack") / "service-tokens"
"""Where a local run (`deploy/local/run up`) issues each caller's service credential, `<subject>.jwt`."""


class CallerSettings(BaseSettings):
    """Mixin of a service that verifies its callers' tokens against auth's published keys."""

    auth_jwks_url: str = Field(
        "http://127.0.0.1:8001/.well-known/jwks.json",
        description="Auth's key set (JWKS): the keys every access token and service credential is checked with.",
    )
    jwks_ttl_s: float = Field(300.0, gt=0, description="How long fetched keys are used before asking again.")
    jwks_min_refetch_s: float = Field(
        10.0, ge=0, description="An unknown key id refetches the keys at most this often."
    )
    jwks_max_stale_s: float = Field(3600.0, gt=0, description="How long keys are used while auth cannot be reached.")


class CredentialSettings(BaseSettings):
    """Mixin of a process that calls operator routes with a service credential of its own."""

    service_token_file: Path | None = Field(
        None,
        description="File holding this process's service credential (`auth issue-service-token --out`)."
        " Development default: <repo>/.stack/service-tokens/<subject>.jwt, issued by `deploy/local/run up`.",
    )

    def credential_path(self, subject: str) -> Path | None:
        """The configured credential file, else in development the one a local run issued."""
        if self.service_token_file is not None:
            return self.service_token_file
        if getattr(self, "environment", "development") != "development":
            return None
        return repo_root() / SERVICE_TOKENS_DIR / f"{subject}.jwt"


def repo_root() -> Path:
    """The checkout a development process runs from: `SUPPLY_REPO_ROOT`, else the nearest folder up
    from the working directory that holds `deploy/local/stack`."""
    configured = os.environ.get("SUPPLY_REPO_ROOT")
    if configured:
        return Path(configured)
    for candidate in (Path.cwd(), *Path.cwd().parents):
        if (candidate / "deploy" / "local" / "stack" / "__main__.py").is_file():
            return candidate
    return Path.cwd()
