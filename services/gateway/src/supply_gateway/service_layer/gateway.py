"""The gateway's use cases: admit a request (route, identity, role, CSRF, rate), forward it, compose
the replication view, and keep browser sessions alive."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
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
from supply_gateway.domain.policy import (
    AUTH,
    JOURNEY,
    OPS_ALERTS,
    OPS_CONSUMERS,
    OPS_DEAD_LETTERS,
    OPS_HISTORY,
    OPS_REPAIR,
    PROJECTOR,
    WRITER,
    Match,
    Policy,
    RateClass,
    Rule,
)
from supply_gateway.domain.ratelimit import RateLimiter
from supply_gateway.service_layer import operations
from supply_gateway.service_layer.callers import Caller, Credentials, Reply, TokenPair, check_csrf, token_pair
from supply_gateway.service_layer.journey import compose_journey, nothing_known
from supply_gateway.service_layer.problems import (
    not_found,
    session_unavailable,
    too_many_at_once,
    unauthorized,
    upstream_problem,
)
from supply_gateway.service_layer.replication import compose_replication

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SALE_ID = re.compile(r"^[0-9a-f]{24}$")


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
            raise ProblemError(
                429,
                "Too many requests",
                f"Slow down: try again in {decision.retry_after_s} s.",
                headers={"Retry-After": str(decision.retry_after_s)},
                extra={"retry_after_s": decision.retry_after_s},
            )


CREDENTIAL_RETRY_AFTER_S = 60
"""What a client is told to wait while the gateway has no usable credential for auth (issued by hand)."""

REFRESH_GRACE_S = 3.0
"""How long a finished refresh is still shared with requests that bring the same (now used) refresh
token from the same client: parallel requests of one page load that left before the new cookies
arrived."""


def _token_key(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


REFRESH_REFUSED = frozenset({400, 401, 403, 404, 410, 422})
"""Auth's answers to a refresh that mean the token is no good: the session is over."""


@dataclass
class _Refresh:
    task: asyncio.Task[TokenPair | None]
    client: str
    """The client (`Credentials.client`) whose request started the refresh: the only one it is shared with."""
    finished: float | None = None
    produced: str | None = None
    """The key of the refresh token the refresh gave, once it gave one."""


@dataclass
class Gateway:
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
    _refreshes: dict[str, _Refresh] = field(default_factory=dict)

    def _credential(self) -> dict[str, str]:
        if self.credential is None:
            raise UpstreamFailure(WRITER, 502, "the gateway has no service credential (SERVICE_TOKEN_FILE)")
        try:
            return self.credential.authorization()
        except (OSError, ValueError) as exc:
            raise UpstreamFailure(WRITER, 502, f"the gateway's service credential cannot be read ({exc})") from exc

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
            raise ProblemError(
                503,
                "Service unavailable",
                "Tokens cannot be checked right now; try again shortly.",
                headers={"Retry-After": "5"},
            ) from exc

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
        return Reply(response.status_code, response.headers, _json_or_none(response))

    async def refresh_session(self, refresh_token: str, client: str = "") -> TokenPair | None:
        """Trade a refresh token for a new pair. Requests from the same `client` that bring the same
        refresh token while its refresh is in flight, or within `refresh_grace_s` after it gave a
        pair, share that answer, so parallel page loads do not trip auth's reuse detection. The
        same token from another client shares nothing: it goes to auth, which sees a used token and
        revokes the whole login, as for any reuse. A failed refresh is not shared after it
        finished, and `end_session` forgets a session's refreshes at once."""
        self._drop_stale_refreshes()
        key = _token_key(refresh_token)
        pending = self._refreshes.get(key)
        if pending is not None and not hmac.compare_digest(pending.client, client):
            log.warning("refresh token replayed from another client", extra={"event": "refresh.replayed"})
            self.end_session(refresh_token)
            return await self._refresh(refresh_token)
        if pending is None:
            pending = _Refresh(asyncio.create_task(self._refresh(refresh_token)), client)
            pending.task.add_done_callback(lambda task: self._refresh_done(key, pending, task))
            self._refreshes[key] = pending
        return await asyncio.shield(pending.task)

    def _refresh_done(self, key: str, entry: _Refresh, task: asyncio.Task[TokenPair | None]) -> None:
        pair = None if task.cancelled() or task.exception() is not None else task.result()
        if pair is None:
            if self._refreshes.get(key) is entry:
                del self._refreshes[key]
            return
        entry.finished = self.clock()
        entry.produced = _token_key(pair.refresh_token)

    def _drop_stale_refreshes(self) -> None:
        now = self.clock()
        for key in [
            k for k, v in self._refreshes.items() if v.finished is not None and now - v.finished > self.refresh_grace_s
        ]:
            del self._refreshes[key]

    def end_session(self, *refresh_tokens: str | None) -> None:
        """Forget the shared refreshes of a session that ended (logout): those of the given refresh
        tokens, the ones that gave them, and the ones they gave."""
        keys = {_token_key(token) for token in refresh_tokens if token}
        while True:
            linked = [k for k, v in self._refreshes.items() if k in keys or v.produced in keys]
            if not linked:
                return
            for key in linked:
                entry = self._refreshes.pop(key)
                keys.add(key)
                if entry.produced:
                    keys.add(entry.produced)

    async def _refresh(self, refresh_token: str) -> TokenPair | None:
        """The new pair, or None when auth says the refresh token is no good (the session is over).
        When auth cannot answer (down, slow, 5xx) the session is not ended: 503, try again."""
        try:
            response = await self.upstreams[AUTH].send(
                "POST",
                "/refresh",
                headers={"content-type": "application/json"},
                content=json.dumps({"refresh_token": refresh_token}).encode(),
                stream=False,
            )
        except UpstreamFailure as exc:
            raise session_unavailable(exc.retry_after_s) from exc
        if response.status_code in REFRESH_REFUSED:
            return None
        if response.status_code != 200:
            log.warning("session refresh failed", extra={"status": response.status_code})
            retry_after = response.headers.get("retry-after", "")
            raise session_unavailable(int(retry_after) if retry_after.isdigit() else None)
        try:
            return token_pair(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise session_unavailable() from exc

    async def composed(self, match: Match, caller: Caller, request_id: str) -> dict[str, Any]:
        """The answer of a route the gateway composes itself (upstream `GATEWAY`)."""
        path = match.rule.path
        if path == JOURNEY:
            return await self.journey(caller, request_id, match.params["id"])
        if path == OPS_REPAIR:
            return await self.repair_sale(caller, request_id, match.params["id"])
        fetch = self._reader(caller, request_id)
        if path == OPS_CONSUMERS:
            return await operations.consumers(fetch)
        if path == OPS_DEAD_LETTERS:
            return await operations.dead_letters(fetch)
        if path == OPS_HISTORY:
            return await operations.history(self.prometheus)
        if path == OPS_ALERTS:
            return await operations.alerts(self.prometheus)
        return await self.replication(caller, request_id)

    async def panel(self, caller: Caller, request_id: str) -> dict[str, Any]:
        """Every part of the replication panel at once, each from its own source."""
        fetch = self._reader(caller, request_id)
        health, members, letters, hour, firing = await asyncio.gather(
            self.replication(caller, request_id),
            operations.consumers(fetch),
            operations.dead_letters(fetch),
            operations.history(self.prometheus),
            operations.alerts(self.prometheus),
        )
        return {"health": health, "consumers": members, "dead_letters": letters, "history": hour, "alerts": firing}

    async def repair_sale(self, caller: Caller, request_id: str, sale_id: str) -> dict[str, Any]:
        """Repair one sale as `reconcile --repair` does, through the projector (with the gateway's
        service credential); the answer says what was found and done. Audit-logged with the user."""
        if not SALE_ID.match(sale_id):
            raise not_found()
        user = caller.identity.user_id if caller.identity else None
        headers = {**upstream_request_headers((), request_id, None), **self._credential()}
        try:
            response = await self.upstreams[PROJECTOR].send(
                "POST", f"/internal/sales/{sale_id}/repair", headers=headers, stream=False
            )
        except UpstreamFailure as exc:
            log.warning("sale repair failed", extra={"event": "ops.repair", "user_id": user, "sale_id": sale_id})
            raise upstream_problem(exc) from exc
        outcome = _json_or_none(response)
        if response.status_code != 200 or not isinstance(outcome, dict):
            detail = (outcome or {}).get("detail") if isinstance(outcome, dict) else None
            log.warning(
                "sale repair refused",
                extra={"event": "ops.repair", "user_id": user, "sale_id": sale_id, "status": response.status_code},
            )
            raise ProblemError(502, "Repair failed", detail or f"The projector answered {response.status_code}.")
        outcome["notice"] = operations.repair_words(outcome)
        log.info(
            "sale repair",
            extra={
                "event": "ops.repair",
                "user_id": user,
                "sale_id": sale_id,
                "found": outcome.get("found"),
                "republished": outcome.get("republished"),
                "strays_deleted": outcome.get("strays_deleted"),
                "rewound": outcome.get("rewound"),
            },
        )
        return outcome

    def _reader(self, caller: Caller, request_id: str) -> Callable[[str, str], Awaitable[Any]]:
        """GET a JSON answer from an upstream for an operator view: `/internal/` routes with the
        gateway's own service credential, the others with the caller's token."""
        as_caller = upstream_request_headers((), request_id, f"Bearer {caller.token}" if caller.token else None)

        async def fetch(upstream: str, path: str) -> Any:
            headers = {**as_caller, **self._credential()} if path.startswith("/internal/") else as_caller
            response = await self.upstreams[upstream].send("GET", path, headers=headers, stream=False)
            if response.status_code != 200:
                raise UpstreamFailure(upstream, 502, f"{upstream} answered {response.status_code}")
            return response.json()

        return fetch

    async def journey(self, caller: Caller, request_id: str, sale_id: str) -> dict[str, Any]:
        """Where a sale's changes are between MySQL and the copy (`compose_journey`); 404 when
        neither side knows the sale."""
        if not SALE_ID.match(sale_id):
            raise not_found()
        fetch = self._reader(caller, request_id)
        results: tuple[Any, Any] = await asyncio.gather(
            fetch(WRITER, f"/internal/sales/{sale_id}/journey"),
            fetch(PROJECTOR, f"/sales/{sale_id}/applied"),
            return_exceptions=True,
        )
        errors = [
            {"source": source, "detail": str(result) if isinstance(result, UpstreamFailure) else "invalid answer"}
            for source, result in zip((WRITER, PROJECTOR), results, strict=True)
            if isinstance(result, BaseException)
        ]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, UpstreamFailure | ValueError):
                raise result
        writer, copy = (None if isinstance(r, BaseException) else r for r in results)
        journey = compose_journey(sale_id, writer, copy, errors, self.trace_ui_url)
        if nothing_known(journey):
            raise not_found()
        return journey

    async def replication(self, caller: Caller, request_id: str) -> dict[str, Any]:
        """One view of replication health from the writer's outbox stats (an operator route: the
        gateway's own service credential) and the projector's freshness (the caller's token)."""
        fetch = self._reader(caller, request_id)
        results: tuple[Any, Any] = await asyncio.gather(
            fetch(WRITER, "/internal/outbox/stats"), fetch(PROJECTOR, "/freshness"), return_exceptions=True
        )
        outbox, freshness = results
        errors = [
            {"source": source, "detail": str(result) if isinstance(result, UpstreamFailure) else "invalid answer"}
            for source, result in ((WRITER, outbox), (PROJECTOR, freshness))
            if isinstance(result, BaseException)
        ]
        for result in (outbox, freshness):
            if isinstance(result, BaseException) and not isinstance(result, UpstreamFailure | ValueError):
                raise result
        return compose_replication(
            None if isinstance(outbox, BaseException) else outbox,
            None if isinstance(freshness, BaseException) else freshness,
            errors,
        )


def _json_or_none(response: UpstreamResponse) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
