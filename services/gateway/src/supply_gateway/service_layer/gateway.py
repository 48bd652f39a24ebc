"""The gateway's use cases: admit a request (route, identity, role, CSRF, rate) and forward it; the
composition root `Gateway`, which also keeps browser sessions alive (`sessions`) and composes the
operators' views (`operator_views`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from supply_common.callers import SERVICE_AUTHORIZATION
from supply_common.identity import Identity
from supply_common.problems import ProblemError
from supply_common.tokens import (
    CredentialFile,
    InvalidToken,
    KeysUnavailable,
    RevocationsUnknown,
    TokenExpired,
    TokenVerifier,
)
from supply_gateway.adapters.upstream import Upstream, UpstreamFailure
from supply_gateway.adapters.upstream_transport import UpstreamResponse
from supply_gateway.domain.concurrency import ConcurrencyCap
from supply_gateway.domain.headers import upstream_request_headers
from supply_gateway.domain.policy import AUTH, Match, Policy, RateClass, Rule
from supply_gateway.domain.ratelimit import RateLimiter
from supply_gateway.service_layer.callers import Caller, Credentials, Reply, check_csrf, json_or_none
from supply_gateway.service_layer.operator_views import OperatorViews
from supply_gateway.service_layer.problems import (
    not_found,
    too_many_at_once,
    too_many_requests,
    unauthorized,
    unavailable,
    upstream_problem,
)
from supply_gateway.service_layer.sessions import REFRESH_GRACE_S, Refresh, SessionRefreshes

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class RateLimits:
    by_class: Mapping[RateClass, RateLimiter]

    def charge(self, rule: Rule, caller: Caller, address: str) -> None:
        rate_class = rule.rate_class
        if rate_class is RateClass.USER and caller.identity is None:
            rate_class = RateClass.ADDRESS
        key = caller.identity.user_id if rate_class is RateClass.USER and caller.identity else address
        decision = self.by_class[rate_class].check(key)
        if not decision.allowed:
            raise too_many_requests(f"Slow down: try again in {decision.retry_after_s} s.", decision.retry_after_s)


CREDENTIAL_RETRY_AFTER_S = 60
"""What a client is told to wait while the gateway has no usable credential for auth (issued by hand)."""


@dataclass
class Gateway(SessionRefreshes, OperatorViews):
    policy: Policy
    verifier: TokenVerifier
    upstreams: Mapping[str, Upstream]
    limits: RateLimits
    expensive: ConcurrencyCap = field(default_factory=lambda: ConcurrencyCap(4))
    """Expensive calls (`Rule.expensive`) each user may have in flight at once."""
    refresh_grace_s: float = REFRESH_GRACE_S
    trace_ui_url: str = ""
    """The trace viewer (Jaeger's UI) a sale's journey links its traces to; empty: no links."""
    clock: Callable[[], float] = time.monotonic
    credential: CredentialFile | None = None
    """The gateway's service credential (`supply_common.processes.SERVICE_CREDENTIALS`): the writer's
    outbox state, a sale's repair (which the projector passes on to the writer), and the client
    address auth believes only with it."""
    prometheus: Upstream | None = None
    """Prometheus's HTTP API, for the replication panel's last hour and firing alerts; None: not set."""
    _refreshes: dict[str, Refresh] = field(default_factory=dict)

    def _vouching(self) -> dict[str, str]:
        """The credential that makes auth believe the client address the gateway forwards. Without a
        usable one (no file, an empty or expired credential) the call is refused with 503 rather than
        sent: auth would count every sign-in under the gateway's own address, where one stranger's
        guesses lock everybody out. The file is read again as it changes, so a credential issued anew
        is used at once, without a restart."""
        try:
            if self.credential is None:
                raise ValueError("no credential file is configured (SERVICE_TOKEN_FILE)")
            return self.credential.authorization(SERVICE_AUTHORIZATION)
        except (OSError, ValueError) as exc:
            log.error(
                "no usable service credential for auth",
                extra={"event": "service_credential.unusable", "error": str(exc)[:300]},
            )
            raise UpstreamFailure(
                AUTH,
                503,
                "Signing in is not available right now. Please try again later.",
                CREDENTIAL_RETRY_AFTER_S,
                reason="no-service-credential",
            ) from exc

    async def start(self) -> None:
        for upstream in self._all_upstreams():
            await upstream.start()

    async def aclose(self) -> None:
        for upstream in self._all_upstreams():
            await upstream.aclose()

    def _all_upstreams(self) -> list[Upstream]:
        return [*self.upstreams.values(), *([self.prometheus] if self.prometheus else [])]

    async def identify(self, credentials: Credentials) -> Caller:
        """Who is calling: a bearer token, else the browser session (refreshed if its access token
        expired). Anonymous callers get an empty `Caller`; bad tokens raise 401, missing keys 503."""
        if credentials.bearer is not None:
            return Caller(identity=await self._verify(credentials.bearer), token=credentials.bearer)
        caller = Caller(via_cookie=True)
        if credentials.access_cookie:
            try:
                caller.identity = await self._verify(credentials.access_cookie)
                caller.token = credentials.access_cookie
                return caller
            except ProblemError as exc:
                if exc.problem.status != 401 or not credentials.refresh_cookie:
                    raise
        if credentials.refresh_cookie:
            pair = await self.refresh_session(credentials.refresh_cookie, credentials.client)
            if pair is None:
                caller.session_ended = True
                return caller
            caller.identity = await self._verify(pair.access_token)
            caller.token = pair.access_token
            caller.new_tokens = pair
        return caller

    async def _verify(self, token: str) -> Identity:
        try:
            return await self.verifier.verify(token)
        except TokenExpired as exc:
            raise unauthorized("The access token has expired.") from exc
        except InvalidToken as exc:
            raise unauthorized(f"The access token is not valid ({exc}).") from exc
        except (KeysUnavailable, RevocationsUnknown) as exc:
            raise unavailable("Tokens cannot be checked right now; try again shortly.") from exc

    def authorize(self, rule: Rule, caller: Caller) -> None:
        if rule.is_public:
            return
        if caller.identity is None:
            raise unauthorized("This route needs a signed-in user.")
        if not rule.allows(caller.identity.role):
            raise ProblemError(403, "Forbidden", "Your role may not do this.")

    async def admit(self, method: str, path: str, credentials: Credentials) -> tuple[Match, Caller]:
        """Resolve, identify, authorize, check CSRF for cookie sessions, charge the rate limit."""
        match = self.policy.resolve(method, path)
        if match is None:
            raise not_found()
        caller = Caller()
        if not match.rule.is_public:
            caller = await self.identify(credentials)
        self.authorize(match.rule, caller)
        if caller.via_cookie and caller.identity is not None and method.upper() not in SAFE_METHODS:
            check_csrf(credentials)
        self.limits.charge(match.rule, caller, credentials.client_address)
        return match, caller

    async def forward(
        self,
        match: Match,
        caller: Caller,
        *,
        request_id: str,
        query: str = "",
        client_headers: Iterable[tuple[str, str]] = (),
        content: bytes | AsyncIterable[bytes] | None = None,
        stream: bool = True,
        client_address: str | None = None,
        read_up_to: int = 0,
        wait_for_slot: bool = False,
    ) -> UpstreamResponse:
        """Send the admitted request upstream. With `stream` the caller closes the response, unless it
        was at most `read_up_to` bytes long and came already read. An expensive call takes one of the
        caller's slots until its answer has begun: refused with 429 when none is free, or, with
        `wait_for_slot` (the pages, whose one view may need several reports), after waiting for one
        at most as long as the answer's own timeout."""
        rule = match.rule
        upstream = self.upstreams[rule.upstream]
        # The caller's own access token, verified here and again by the upstream: no hop takes
        # identity from anything but a token it checks itself.
        authorization = f"Bearer {caller.token}" if caller.token else None
        headers = upstream_request_headers(client_headers, request_id, authorization, client_address)
        if rule.upstream == AUTH and client_address:
            try:
                headers.update(self._vouching())
            except UpstreamFailure as exc:
                raise upstream_problem(exc) from exc
        slot = None
        if rule.expensive:
            slot = caller.identity.user_id if caller.identity else f"address:{client_address}"
            if wait_for_slot:
                taken = await self.expensive.acquire(slot, upstream.lane(rule.lane).timeouts.read_s)
            else:
                taken = self.expensive.try_acquire(slot)
            if not taken:
                raise too_many_at_once(self.expensive.limit)
        try:
            return await upstream.send(
                rule.method,
                match.upstream_path,
                query=query,
                headers=headers,
                content=content,
                long_running=rule.long_running,
                stream=stream,
                read_up_to=read_up_to,
                route_class=rule.lane,
            )
        except UpstreamFailure as exc:
            raise upstream_problem(exc) from exc
        finally:
            if slot is not None:
                self.expensive.release(slot)

    async def call(
        self,
        caller: Caller,
        method: str,
        path: str,
        *,
        request_id: str,
        address: str = "unknown",
        query: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Call a public API route on behalf of an already identified caller (the web pages do)."""
        match = self.policy.resolve(method, path)
        if match is None:
            raise not_found()
        self.authorize(match.rule, caller)
        self.limits.charge(match.rule, caller, address)
        client_headers = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            client_headers["content-type"] = "application/json"
        encoded = urlencode([(k, v) for k, v in (query or {}).items() if v not in (None, "")], doseq=True)
        response = await self.forward(
            match,
            caller,
            request_id=request_id,
            query=encoded,
            client_headers=client_headers.items(),
            content=content,
            stream=False,
            client_address=address,
            wait_for_slot=True,
        )
        return Reply(response.status_code, response.headers, json_or_none(response))
