"""Settings of the mongo-projector service (environment variables, see .env.example)."""

from __future__ import annotations

from supply_common.settings import ServiceSettings


class ProjectorSettings(ServiceSettings):
    port: int = 8003
