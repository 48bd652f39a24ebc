"""The problem documents the gateway answers with itself: not signed in, no such route, an upstream
that gave no answer, too many calls (or at once), tokens that cannot be checked or a session that
cannot be renewed now. Their `detail` is for people (no internal names); their `type` is for machines."""

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


def too_many_requests(detail: str, retry_after_s: int, *, type_: str = "about:blank", **extra: object) -> ProblemError:
    """A 429 that says when to try again: in `Retry-After`, and as `retry_after_s` in the body."""
    return ProblemError(
        429,
        "Too many requests",
        detail,
        type_=type_,
        headers={"Retry-After": str(retry_after_s)},
        extra={"retry_after_s": retry_after_s, **extra},
    )


BUSY_RETRY_AFTER_S = 1


def too_many_at_once(limit: int) -> ProblemError:
    return too_many_requests(
        f"You already have {limit} searches, lists or reports under way. Wait for one to finish and try again.",
        BUSY_RETRY_AFTER_S,
        type_=PROBLEM_TYPE + "too-many-at-once",
        limit=limit,
    )


def unavailable(detail: str, retry_after_s: int = 5) -> ProblemError:
    """A 503 the gateway answers for a part it needs (token checks, session renewal) that will be back."""
    return ProblemError(503, "Service unavailable", detail, headers={"Retry-After": str(retry_after_s)})


def session_unavailable(retry_after_s: int | None = None) -> ProblemError:
    return unavailable(
        "Your session cannot be renewed right now; you are still signed in. Try again in a moment.", retry_after_s or 5
    )
