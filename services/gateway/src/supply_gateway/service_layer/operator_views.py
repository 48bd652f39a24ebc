"""The operators' views that the gateway composes itself (upstream `GATEWAY`): a sale's journey,
replication health, the replication panel, and a sale's repair. A part of `Gateway`, which holds
the fields it reads."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from supply_common.problems import ProblemError
from supply_common.tokens import CredentialFile
from supply_gateway.adapters.upstream import Upstream, UpstreamFailure
from supply_gateway.domain.headers import upstream_request_headers
from supply_gateway.domain.policy import (
    JOURNEY,
    OPS_ALERTS,
    OPS_CONSUMERS,
    OPS_DEAD_LETTERS,
    OPS_HISTORY,
    OPS_REPAIR,
    PROJECTOR,
    WRITER,
    Match,
)
from supply_gateway.service_layer import operations
from supply_gateway.service_layer.callers import Caller, json_or_none
from supply_gateway.service_layer.journey import compose_journey, nothing_known
from supply_gateway.service_layer.problems import not_found, upstream_problem
from supply_gateway.service_layer.replication import compose_replication

log = logging.getLogger(__name__)

SALE_ID = re.compile(r"^[0-9a-f]{24}$")


class OperatorViews:
    """The composed routes of `Gateway`: read with the caller's token, or with the gateway's own
    service credential where the upstream route is an operator's (`/internal/`)."""

    upstreams: Mapping[str, Upstream]
    credential: CredentialFile | None
    prometheus: Upstream | None
    trace_ui_url: str

    def _credential(self) -> dict[str, str]:
        if self.credential is None:
            raise UpstreamFailure(WRITER, 502, "the gateway has no service credential (SERVICE_TOKEN_FILE)")
        try:
            return self.credential.authorization()
        except (OSError, ValueError) as exc:
            raise UpstreamFailure(WRITER, 502, f"the gateway's service credential cannot be read ({exc})") from exc

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
        outcome = json_or_none(response)
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
        (writer, copy), errors = _settled(
            (WRITER, PROJECTOR),
            await asyncio.gather(
                fetch(WRITER, f"/internal/sales/{sale_id}/journey"),
                fetch(PROJECTOR, f"/sales/{sale_id}/applied"),
                return_exceptions=True,
            ),
        )
        journey = compose_journey(sale_id, writer, copy, errors, self.trace_ui_url)
        if nothing_known(journey):
            raise not_found()
        return journey

    async def replication(self, caller: Caller, request_id: str) -> dict[str, Any]:
        """One view of replication health from the writer's outbox stats (an operator route: the
        gateway's own service credential) and the projector's freshness (the caller's token)."""
        fetch = self._reader(caller, request_id)
        (outbox, freshness), errors = _settled(
            (WRITER, PROJECTOR),
            await asyncio.gather(
                fetch(WRITER, "/internal/outbox/stats"), fetch(PROJECTOR, "/freshness"), return_exceptions=True
            ),
        )
        return compose_replication(outbox, freshness, errors)


def _settled(sources: Iterable[str], results: Iterable[Any]) -> tuple[list[Any], list[dict[str, str]]]:
    """The answers of reads made at once (`gather` with `return_exceptions`), None where a read
    failed, and what failed, by source. A failure other than an upstream's or a bad answer is raised."""
    answers: list[Any] = []
    errors: list[dict[str, str]] = []
    for source, result in zip(sources, results, strict=True):
        if not isinstance(result, BaseException):
            answers.append(result)
            continue
        if not isinstance(result, UpstreamFailure | ValueError):
            raise result
        answers.append(None)
        detail = str(result) if isinstance(result, UpstreamFailure) else "invalid answer"
        errors.append({"source": source, "detail": detail})
    return answers, errors
