"""Settings of the mongo-projector service (environment variables, see .env.example)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from supply_common.settings import (
    CallerSettings,
    CredentialSettings,
    MongoSettings,
    RevocationSettings,
    ServiceSettings,
)


class ProjectorSettings(ServiceSettings, RevocationSettings, MongoSettings, CallerSettings, CredentialSettings):
    port: int = 8003
    consumer_group: str = Field("mongo-projector", description="Kafka consumer group of `consume`.")
    batch_max_records: int = Field(1000, ge=1, le=10_000)
    poll_timeout_ms: int = Field(500, ge=10)
    session_timeout_ms: int = Field(30_000, ge=6_000, description="How soon a dead consumer's partitions move.")
    retry_max_backoff_s: float = Field(10.0, gt=0)
    rollup_flush_interval_s: float = Field(
        1.0,
        ge=0,
        le=10,
        description=(
            "While more records wait, how long `consume` may sum applied batches before adding them to the"
            " analytics rollups (0: each batch); once nothing waits, at once."
        ),
    )
    tombstone_retention_days: int = Field(30, ge=1, description="Tombstones older than this are purged.")
    money_mode: Literal["auto", "decimal128", "double"] = Field(
        "auto", description="How prices are stored: auto picks double on FerretDB v1, else Decimal128."
    )
    wait_default_ms: int = Field(2000, ge=0, le=5000)
    wait_max_ms: int = Field(5000, ge=0, le=30_000)
    metrics_port: int = Field(9103, ge=0, description="Prometheus port of `consume` (0: none).")
    heartbeat_file: str = Field("/tmp/mongo-projector.alive", description="Touched by `consume` every poll.")  # noqa: S108
    summary_count_cap: int = Field(
        250,
        ge=1,
        le=10_000,
        description="How many sales the summary of a search the rollups cannot answer counts before it says 'more'.",
    )
    sales_writer_url: str = Field(
        "http://127.0.0.1:8002", description="The sales-writer, whose digest and republish a sale's repair calls."
    )
    active_cache_s: float = Field(1.0, ge=0, description="How long readers cache the active collection name.")
