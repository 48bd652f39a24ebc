"""Settings of the sales-writer service (environment variables, see .env.example)."""

from __future__ import annotations

from supply_common.settings import ServiceSettings


class SalesWriterSettings(ServiceSettings):
    port: int = 8002
