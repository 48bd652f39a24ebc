"""Browser sessions kept alive: a refresh token traded for a new pair once, and that answer shared
with the parallel requests of the same client. A part of `Gateway`, which holds the fields it reads."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from supply_gateway.adapters.upstream import Upstream, UpstreamFailure
from supply_gateway.domain.policy import AUTH
from supply_gateway.service_layer.callers import TokenPair, token_pair
from supply_gateway.service_layer.problems import session_unavailable

log = logging.getLogger(__name__)

REFRESH_GRACE_S = 3.0
"""How long a finished refresh is still shared with requests that bring the same (now used) refresh
token from the same client: parallel requests of one page load that left before the new cookies
arrived."""


def _token_key(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


REFRESH_REFUSED = frozenset({400, 401, 403, 404, 410, 422})
"""Auth's answers to a refresh that mean the token is no good: the session is over."""


@dataclass
class Refresh:
    """One refresh in flight or recently done, shared by the requests of the client that started it."""

    task: asyncio.Task[TokenPair | None]
    client: str
    """The client (`Credentials.client`) whose request started the refresh: the only one it is shared with."""
    finished: float | None = None
    produced: str | None = None
    """The key of the refresh token the refresh gave, once it gave one."""


class SessionRefreshes:
    """The refreshes of `Gateway`: shared by client while in flight and for `refresh_grace_s` after."""

    upstreams: Mapping[str, Upstream]
    refresh_grace_s: float
    clock: Callable[[], float]
    _refreshes: dict[str, Refresh]

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
            pending = Refresh(asyncio.create_task(self._refresh(refresh_token)), client)
            pending.task.add_done_callback(lambda task: self._refresh_done(key, pending, task))
            self._refreshes[key] = pending
        return await asyncio.shield(pending.task)

    def _refresh_done(self, key: str, entry: Refresh, task: asyncio.Task[TokenPair | None]) -> None:
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
