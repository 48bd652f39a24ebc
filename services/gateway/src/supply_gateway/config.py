"""Settings of the gateway service (environment variables, see .env.example)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator

from supply_common.forwarded import TrustedProxies
from supply_common.settings import CredentialSettings, RevocationSettings, ServiceSettings
from supply_gateway.domain.policy import RouteClass


class GatewaySettings(ServiceSettings, CredentialSettings, RevocationSettings):
    port: int = 8000

    auth_url: str = "http://127.0.0.1:8001"
    sales_writer_url: str = "http://127.0.0.1:8002"
    projector_url: str = "http://127.0.0.1:8003"

    upstream_connect_timeout_s: float = 1.0
    route_class_timeouts_s: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Read timeouts by route class (auth, sale_reads, analytics, writes), over the table's"
            ' (`domain/policy.py`, `ROUTE_CLASSES`); JSON in the environment, e.g. {"analytics": 20}.'
        ),
    )
    import_read_timeout_s: float = 300.0
    breaker_failures: int = Field(
        5, description="Consecutive transport failures of one route class that open that class's breaker."
    )
    breaker_cooldown_s: float = 5.0
    expensive_calls_per_user: int = Field(
        4, description="Expensive calls (searches, lists, analytics, imports) one user may have in flight at once."
    )
    max_header_count: int = Field(100, description="More request headers than this answer 431.")
    max_header_bytes: int = Field(32 * 1024, description="Request headers larger than this in all answer 431.")

    jwks_ttl_s: float = 300.0
    jwks_min_refetch_s: float = Field(10.0, description="An unknown key id refetches the keys at most this often.")
    jwks_max_stale_s: float = 3600.0

    rate_credentials_per_min: float = Field(10.0, description="Login and register, per client address.")
    rate_credentials_burst: int = 5
    rate_public_per_s: float = 20.0
    rate_public_burst: int = 60
    rate_user_per_s: float = 50.0
    rate_user_burst: int = 200

    trace_ui_url: str = Field(
        "",
        description="The trace viewer (Jaeger's UI, http://127.0.0.1:16686 here): a sale's journey links traces there.",
    )
    prometheus_url: str = Field(
        "",
        description="Prometheus (http://127.0.0.1:9090 here): the replication panel's last hour of lag and"
        " throughput, and its firing alerts. Empty: the panel shows neither, and says so.",
    )
    import_max_body_bytes: int = 64 * 1024 * 1024
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty turns CORS off.")
    cookie_secure: bool = Field(False, description="Mark session cookies Secure even on plain-http requests.")
    refresh_cookie_max_age_s: int = 14 * 24 * 3600
    trust_forwarded_for: bool = Field(
        False, description="Take the client address from X-Forwarded-For (the entries appended by trusted hops)."
    )
    trusted_proxies: str = Field(
        "",
        description=(
            "Comma-separated addresses or networks (CIDR) of the proxies in front, with TRUST_FORWARDED_FOR: the"
            " header is believed only from them and the client is its first entry from the right that is not one"
            " of them. Empty: any peer is believed and only the entry it appended (the last) is taken."
        ),
    )

    @field_validator("route_class_timeouts_s")
    @classmethod
    def _known_route_classes(cls, value: dict[str, float]) -> dict[str, float]:
        known = {route_class.value for route_class in RouteClass}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown route classes {sorted(unknown)}; known: {sorted(known)}")
        return value

    @cached_property
    def proxies(self) -> TrustedProxies:
        return TrustedProxies(self.trusted_proxies.split(","), any_peer=not self.trusted_proxies.strip())

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]
