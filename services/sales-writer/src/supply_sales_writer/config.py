"""Settings of the sales-writer service (environment variables, see .env.example)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from supply_common.settings import KafkaSettings, MySQLSettings, ServiceSettings


def parse_address(text: str) -> tuple[str, int]:
    """`host:port` (`[v6]:port` for an IPv6 literal)."""
    host, separator, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {text!r}")
    return host, int(port)


InsertMode = Literal["auto", "compound", "separate"]
"""How a transaction's INSERTs go out at its commit: `compound`, one `BEGIN NOT ATOMIC ... END`
block (MariaDB only: MySQL accepts BEGIN ... END only inside stored programs); `separate`, one
statement each (any server); `auto`, compound when the server is MariaDB."""


class SalesWriterSettings(ServiceSettings, MySQLSettings, KafkaSettings):
    port: int = 8002
    import_max_body_bytes: int = Field(2 * 1024**3, description="Largest body `POST /sales/import` accepts.")
    request_threads: int = Field(
        8,
        ge=1,
        le=200,
        description="Threads per server process running requests; more only contend for the GIL.",
    )
    create_batch_max: int = Field(
        64,
        ge=1,
        le=1000,
        description="Most creates one transaction writes together (those that queued while the last one committed).",
    )
    mysql_insert_mode: InsertMode = Field(
        "auto",
        description=(
            "How a transaction's INSERTs go out at commit: `compound` (one MariaDB `BEGIN NOT ATOMIC` block,"
            " two round trips), `separate` (one statement each, any server), `auto` (compound on MariaDB)."
        ),
    )
    import_batch_size: int = Field(500, ge=1, le=10_000, description="Records written per transaction.")
    relay_enabled: bool = Field(True, description="Run the outbox relay inside the serving process.")
    relay_wake_address: str = Field(
        "",
        description=(
            "host:port where a separate `sales-writer relay` listens for commit notices (UDP); processes"
            " that commit send one there after each commit that wrote outbox rows. Empty: none."
        ),
    )
    relay_batch_size: int = Field(5000, ge=1, le=10_000, description="Outbox rows claimed and published per batch.")
    relay_metrics_port: int = Field(9102, ge=0, description="Prometheus port of `relay` run alone (0: none).")
    relay_poll_interval_s: float = Field(0.2, gt=0, description="Fallback poll when no local commit wakes it.")
    relay_min_cycle_s: float = Field(
        0.02,
        ge=0,
        le=1.0,
        description=(
            "Least time from one claim to the next when commits keep coming: under load each cycle then"
            " publishes more rows for the same fixed cost; a commit after a quiet spell is claimed at once."
        ),
    )
    outbox_retention_s: float = Field(24 * 3600, ge=0, description="Published outbox rows older than this are purged.")
    idempotency_ttl_s: float = Field(24 * 3600, gt=0, description="How long an Idempotency-Key is remembered.")
    relay_fault: Literal["", "exit_after_publish"] = Field(
        "", description="Test hook: end the process after publishing a batch, before marking it."
    )

    @field_validator("relay_wake_address")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        if value:
            parse_address(value)
        return value
