"""The composition root: settings in, a wired `Container` out. Tests call the same function."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from supply_common.revocations import AccountEventsReader, account_events_for
from supply_common.tokens import NO_REVOCATION, CredentialFile, KeyStore, TokenVerifier
from supply_gateway.adapters.upstream import Lane, Timeouts, Upstream, UpstreamFailure
from supply_gateway.adapters.upstream_transport import Transport
from supply_gateway.config import GatewaySettings
from supply_gateway.domain.breaker import CircuitBreaker
from supply_gateway.domain.concurrency import ConcurrencyCap
from supply_gateway.domain.policy import (
    AUTH,
    DEFAULT_CLASS,
    PROJECTOR,
    ROUTE_CLASSES,
    WRITER,
    Policy,
    RateClass,
    RouteClass,
    RouteClassLimits,
)
from supply_gateway.domain.ratelimit import Limit, RateLimiter
from supply_gateway.service_layer.gateway import Gateway, RateLimits


@dataclass
class Container:
    """What the entrypoints serve from: the settings, the policy table and the gateway's use cases."""

    settings: GatewaySettings
    gateway: Gateway
    account_events: AccountEventsReader | None = None
    """Feeds the verifier's revocations (None: revocations are not followed); run by the app's lifespan."""

    @property
    def policy(self) -> Policy:
        return self.gateway.policy


def bootstrap(
    settings: GatewaySettings | None = None,
    *,
    transports: Mapping[str, Transport] | None = None,
    policy: Policy | None = None,
    clock: Callable[[], float] | None = None,
) -> Container:
    """Wire the gateway. Tests pass their own transports per upstream, policy or clock."""
    settings = settings or GatewaySettings()
    transports = transports or {}
    clock_kwargs: dict[str, Any] = {"clock": clock} if clock else {}

    def lane(route_class: RouteClass, limits: RouteClassLimits) -> Lane:
        timeouts = Timeouts(
            connect_s=settings.upstream_connect_timeout_s,
            read_s=settings.route_class_timeouts_s.get(route_class.value, limits.read_timeout_s),
            long_read_s=settings.import_read_timeout_s,
        )
        breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s, **clock_kwargs)
        return Lane(limits.service, timeouts, breaker, route_class)

    upstreams = {
        name: Upstream(
            name,
            url,
            transport=transports.get(name),
            lanes={
                route_class: lane(route_class, limits)
                for route_class, limits in ROUTE_CLASSES.items()
                if limits.upstream == name
            },
            default_lane=DEFAULT_CLASS[name],
        )
        for name, url in (
            (AUTH, settings.auth_url),
            (WRITER, settings.sales_writer_url),
            (PROJECTOR, settings.projector_url),
        )
    }

    async def fetch_jwks() -> Any:
        try:
            response = await upstreams[AUTH].send("GET", "/.well-known/jwks.json", stream=False)
        except UpstreamFailure as exc:
            raise OSError(str(exc)) from exc
        if response.status_code != 200:
            raise OSError(f"auth answered {response.status_code} for its key set")
        return response.json()

    keys = KeyStore(
        fetch_jwks,
        ttl_s=settings.jwks_ttl_s,
        min_refetch_s=settings.jwks_min_refetch_s,
        max_stale_s=settings.jwks_max_stale_s,
        **clock_kwargs,
    )
    limits = RateLimits(
        {
            RateClass.CREDENTIALS: RateLimiter(
                Limit.per_minute(settings.rate_credentials_per_min, settings.rate_credentials_burst), **clock_kwargs
            ),
            RateClass.ADDRESS: RateLimiter(
                Limit(settings.rate_public_per_s, settings.rate_public_burst), **clock_kwargs
            ),
            RateClass.USER: RateLimiter(Limit(settings.rate_user_per_s, settings.rate_user_burst), **clock_kwargs),
        }
    )
    account_events = account_events_for(settings)
    credential_path = settings.credential_path("gateway")
    gateway = Gateway(
        credential=CredentialFile(credential_path) if credential_path else None,
        policy=policy or Policy(),
        verifier=TokenVerifier(keys, revocation=NO_REVOCATION if account_events is None else account_events),
        upstreams=upstreams,
        limits=limits,
        expensive=ConcurrencyCap(settings.expensive_calls_per_user),
        trace_ui_url=settings.trace_ui_url,
        prometheus=(
            Upstream("prometheus", settings.prometheus_url, timeouts=Timeouts(connect_s=1.0, read_s=3.0))
            if settings.prometheus_url
            else None
        ),
    )
    return Container(settings=settings, gateway=gateway, account_events=account_events)
