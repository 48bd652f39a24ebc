"""Settings of the auth service (environment variables, see .env.example)."""

from __future__ import annotations

from supply_common.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    port: int = 8001
