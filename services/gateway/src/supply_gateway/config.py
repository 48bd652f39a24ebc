"""Settings of the gateway service (environment variables, see .env.example)."""

from __future__ import annotations

from supply_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    port: int = 8000
