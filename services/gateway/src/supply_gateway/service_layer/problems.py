"""The problem documents the gateway answers with itself: not signed in, no such route, an upstream
that gave no answer, too many calls at once, a session that cannot be renewed now. Their `detail` is
for people (no internal names); their `type` is for machines."""

from __future__ import annotations

from supply_common.problems import ProblemError
from supply_gateway.adapters.upstream import UpstreamFailure


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Not signed in", detail, headers={"WWW-Authenticate": 'Bearer realm="supply-store"'})


def not_found() -> ProblemError:
    return ProblemError(404, "Not found", "No such route.")


PROBLEM_TYPE = "urn:supply-store:problem:"
"""Prefix of the machine-readable `type` of the problems the gateway itself answers."""


def upstream_problem(failure: UpstreamFailure) -> ProblemError:
    """The problem document of an upstream that gave no answer: plain words in `detail`, the reason
    (`circuit-open`, `unreachable`, `timeout`, `bad-answer`) in `type`, the route class beside."""
    title = {502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout"}[failure.status]
    headers = {"Retry-After": str(failure.retry_after_s)} if failure.retry_after_s else {}
    extra = {"route_class": failure.route_class.value} if failure.route_class else {}
    return ProblemError(
        failure.status, title, failure.detail, type_=PROBLEM_TYPE + failure.reason, headers=headers, extra=extra
    )


BUSY_RETRY_AFTER_S = 1


def too_many_at_once(limit: int) -> ProblemError:
    return ProblemError(
        429,
        "Too many requests",
        f"You already have {limit} searches, lists or reports under way. Wait for one to finish and try again.",
        type_=PROBLEM_TYPE + "too-many-at-once",
        headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
        extra={"retry_after_s": BUSY_RETRY_AFTER_S, "limit": limit},
    )


def session_unavailable(retry_after_s: int | None = None) -> ProblemError:
    retry = str(retry_after_s or 5)
    return ProblemError(
        503,
        "Service unavailable",
        "Your session cannot be renewed right now; you are still signed in. Try again in a moment.",
        headers={"Retry-After": retry},
    )
