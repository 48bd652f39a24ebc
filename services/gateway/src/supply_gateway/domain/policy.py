"""The gateway's policy table, whole in one module: the one place that says which public route goes
where, who may call it, and which route class (breaker and timeout) and limits it goes through. The
rows, the route classes, `Rule` (whose lane is its upstream's `DEFAULT_CLASS`) and `Policy` (which
reads `POLICY` by default) are kept together so that none of it is read apart from the rest.

Routing, authorization, the README section and `/docs` are all derived from `POLICY`; the breakers and
timeouts from `ROUTE_CLASSES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final
from urllib.parse import quote

from supply_common.identity import ROLES


class Access(Enum):
    PUBLIC = "public"
    ANY_SIGNED_IN = "any signed-in user"


PUBLIC: Final = Access.PUBLIC
ANY_SIGNED_IN: Final = Access.ANY_SIGNED_IN

AUTH: Final = "auth"
WRITER: Final = "sales-writer"
PROJECTOR: Final = "projector"
GATEWAY: Final = "gateway"
UPSTREAMS: Final = (AUTH, WRITER, PROJECTOR)
JOURNEY: Final = "/api/ops/sales/{id}/journey"
OPS_CONSUMERS: Final = "/api/ops/consumers"
OPS_DEAD_LETTERS: Final = "/api/ops/dead-letters"
OPS_HISTORY: Final = "/api/ops/history"
OPS_ALERTS: Final = "/api/ops/alerts"
OPS_REPAIR: Final = "/api/ops/sales/{id}/repair"

_PARAM = re.compile(r"\{([a-z_]+)\}")
_SEGMENT = r"[A-Za-z0-9._~-]{1,128}"


class RateClass(Enum):
    """Which bucket a request is charged to."""

    CREDENTIALS = "credentials"
    """Per client address, strict: the routes that take a password."""
    ADDRESS = "address"
    """Per client address, generous: other public routes."""
    USER = "user"
    """Per signed-in user, generous."""


class RouteClass(Enum):
    """The calls to an upstream that share one circuit breaker and one timeout. Classes are apart so
    that slow or failing calls of one (a heavy analytics query) open only its own breaker."""

    AUTH = "auth"
    SALE_READS = "sale_reads"
    ANALYTICS = "analytics"
    WRITES = "writes"


@dataclass(frozen=True)
class RouteClassLimits:
    upstream: str
    read_timeout_s: float
    """Longest wait between bytes of the answer (`ROUTE_CLASS_TIMEOUTS_S` overrides it)."""
    service: str
    """What users are told is unavailable when the class's breaker is open, in their words."""


ROUTE_CLASSES: Final[Mapping[RouteClass, RouteClassLimits]] = {
    RouteClass.AUTH: RouteClassLimits(AUTH, 10.0, "The account service"),
    RouteClass.SALE_READS: RouteClassLimits(PROJECTOR, 10.0, "Reading sales"),
    RouteClass.ANALYTICS: RouteClassLimits(PROJECTOR, 10.0, "Analytics"),
    RouteClass.WRITES: RouteClassLimits(WRITER, 10.0, "Saving sales"),
}
"""One breaker per class (opening after `BREAKER_FAILURES` consecutive failures of that class alone)
and its timeout. A sale read waits at most 5 s for a recent write, so its timeout stays above that."""

DEFAULT_CLASS: Final[Mapping[str, RouteClass]] = {
    AUTH: RouteClass.AUTH,
    WRITER: RouteClass.WRITES,
    PROJECTOR: RouteClass.SALE_READS,
}
"""The class of a call to an upstream when its row (or the call) names none."""


def _compile(path: str) -> re.Pattern[str]:
    parts = _PARAM.split(path)
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>{_SEGMENT})" for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


def _fill(template: str, params: Mapping[str, str]) -> str:
    return _PARAM.sub(lambda m: params[m.group(1)], template)


@dataclass(frozen=True)
class Rule:
    """One row: a public method and path, where it goes, and who may call it."""

    method: str
    path: str
    upstream: str
    upstream_path: str
    access: Access | frozenset[str]
    summary: str
    owner_only: bool = False
    """Customers see only their own records; the upstream enforces it from the email of the token it
    verifies (404 otherwise)."""
    large_body: bool = False
    long_running: bool = False
    rate: RateClass | None = None
    route_class: RouteClass | None = None
    """Its breaker and timeout; by default the upstream's (`DEFAULT_CLASS`)."""
    expensive: bool = False
    """Counts against the per-user cap on concurrent expensive calls (429 beyond it)."""
    cacheable: bool = False
    """Answers keep the upstream's `Cache-Control`; all others say `no-store` (tokens, personal data)."""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    upstream_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.access, frozenset):
            unknown = self.access - set(ROLES)
            if unknown or not self.access:
                raise ValueError(f"{self.method} {self.path}: unknown roles {sorted(unknown)}")
        if set(_PARAM.findall(self.upstream_path)) - set(_PARAM.findall(self.path)):
            raise ValueError(f"{self.method} {self.path}: upstream path uses a parameter the path lacks")
        object.__setattr__(self, "pattern", _compile(self.path))
        object.__setattr__(self, "upstream_pattern", _compile(self.upstream_path))

    @property
    def is_public(self) -> bool:
        return self.access is PUBLIC

    @property
    def rate_class(self) -> RateClass:
        if self.rate is not None:
            return self.rate
        return RateClass.ADDRESS if self.is_public else RateClass.USER

    @property
    def lane(self) -> RouteClass | None:
        """The route class its calls go through (None for what the gateway answers itself)."""
        return self.route_class or DEFAULT_CLASS.get(self.upstream)

    def allows(self, role: str) -> bool:
        if isinstance(self.access, frozenset):
            return role in self.access
        return role in ROLES

    def who(self) -> str:
        if isinstance(self.access, frozenset):
            return ", ".join(role for role in ROLES if role in self.access)
        return self.access.value

    def target(self, params: Mapping[str, str]) -> str:
        return _PARAM.sub(lambda m: quote(params[m.group(1)], safe=""), self.upstream_path)


@dataclass(frozen=True)
class Match:
    rule: Rule
    params: Mapping[str, str]

    @property
    def upstream_path(self) -> str:
        return self.rule.target(self.params)


def _roles(*roles: str) -> frozenset[str]:
    return frozenset(roles)


CUSTOMER = _roles("customer")
WORKER = _roles("technical_worker")
MANAGEMENT = _roles("senior_management")
STAFF = _roles("technical_worker", "senior_management")
EVERY_ROLE = _roles(*ROLES)

ANALYTICS_REPORTS: Final = (
    "summary",
    "by-store",
    "by-month",
    "by-day",
    "by-method",
    "top-items",
    "satisfaction",
    "coupons",
)

POLICY: Final[tuple[Rule, ...]] = (
    Rule(
        "POST",
        "/api/auth/register",
        AUTH,
        "/register",
        PUBLIC,
        "Ask for a customer account (email and name): always 202, and a link to choose the password goes to its inbox.",
        rate=RateClass.CREDENTIALS,
    ),
    Rule(
        "POST",
        "/api/auth/login",
        AUTH,
        "/login",
        PUBLIC,
        "Trade email and password for a token pair.",
        rate=RateClass.CREDENTIALS,
    ),
    Rule(
        "POST",
        "/api/auth/verify-email",
        AUTH,
        "/verify-email",
        PUBLIC,
        "Set the password with the token of the link we mailed: confirms the email and signs in.",
        rate=RateClass.CREDENTIALS,
    ),
    Rule(
        "POST",
        "/api/auth/resend-confirmation",
        AUTH,
        "/resend-confirmation",
        PUBLIC,
        "Ask for a new link to choose the password (an account without one): always 202.",
        rate=RateClass.CREDENTIALS,
    ),
    Rule("POST", "/api/auth/refresh", AUTH, "/refresh", PUBLIC, "Trade a refresh token for a new pair."),
    Rule(
        "GET",
        "/.well-known/jwks.json",
        AUTH,
        "/.well-known/jwks.json",
        PUBLIC,
        "The public signing keys.",
        cacheable=True,
    ),
    Rule("POST", "/api/auth/logout", AUTH, "/logout", ANY_SIGNED_IN, "Revoke the refresh token's family."),
    Rule("GET", "/api/auth/me", AUTH, "/me", ANY_SIGNED_IN, "The signed-in user."),
    Rule("GET", "/api/me/sales", PROJECTOR, "/me/sales", CUSTOMER, "My purchases, with totals.", expensive=True),
    Rule(
        "GET",
        "/api/sales",
        PROJECTOR,
        "/sales",
        STAFF,
        "Search sales (filters; item, tag and email by their start in any case; sort by date, total or store;"
        " cursors both ways).",
        expensive=True,
    ),
    Rule(
        "GET",
        "/api/sales/summary",
        PROJECTOR,
        "/sales/summary",
        STAFF,
        "How many sales a search matches and their total (the search's filters): `{count, total, kind, more}`."
        " Exact from the rollups (`kind` `exact_from_rollups`) for no filter or one of store, method, coupon"
        " alone, with any dates; else counted up to a cap: exact below it (`exact_by_reading`), else"
        " `lower_bound` (`more` true: more than `count` sales, `total` null).",
        expensive=True,
    ),
    Rule(
        "GET",
        "/api/sales/export",
        PROJECTOR,
        "/sales/export",
        STAFF,
        "Every sale a search matches as CSV, streamed (the search's filters and sort).",
        long_running=True,
        expensive=True,
    ),
    Rule(
        "GET",
        "/api/sales/{id}/history",
        WRITER,
        "/sales/{id}/history",
        STAFF,
        "A sale's versions, newest first: who made each (user id and role), when, and the sale as it became.",
    ),
    Rule(
        "GET",
        "/api/sales/{id}",
        PROJECTOR,
        "/sales/{id}",
        EVERY_ROLE,
        "One sale from the read copy; `min_version` waits for a recent write.",
        owner_only=True,
    ),
    Rule("POST", "/api/sales", WRITER, "/sales", WORKER, "Create a sale (`Idempotency-Key` honoured)."),
    Rule(
        "POST",
        "/api/sales/import",
        WRITER,
        "/sales/import",
        WORKER,
        "Import mongoexport JSON lines or an array; answers the counts.",
        large_body=True,
        long_running=True,
        expensive=True,
    ),
    Rule(
        "GET",
        "/api/sales/{id}/current",
        WRITER,
        "/sales/{id}",
        WORKER,
        "The sale as stored in MySQL, with `ETag` for an edit.",
    ),
    Rule("PUT", "/api/sales/{id}", WRITER, "/sales/{id}", WORKER, "Replace a sale; `If-Match` required."),
    Rule("DELETE", "/api/sales/{id}", WRITER, "/sales/{id}", WORKER, "Delete a sale; `If-Match` required."),
    *(
        Rule(
            "GET",
            f"/api/analytics/{report}",
            PROJECTOR,
            f"/analytics/{report}",
            MANAGEMENT,
            f"Analytics: {report.replace('-', ' ')}.",
            route_class=RouteClass.ANALYTICS,
            expensive=True,
        )
        for report in ANALYTICS_REPORTS
    ),
    Rule(
        "GET",
        "/api/users",
        AUTH,
        "/users",
        MANAGEMENT,
        "List accounts (`role`, `q`, `sort`, `offset`, `cursor`, `limit`), with `total`.",
    ),
    Rule("POST", "/api/users", AUTH, "/users", MANAGEMENT, "Invite someone to an account with a role, by email."),
    Rule(
        "POST",
        "/api/users/{id}/password-link",
        AUTH,
        "/users/{id}/password-link",
        MANAGEMENT,
        "Mail a new link to choose the password to an account still without one.",
    ),
    Rule("PATCH", "/api/users/{id}", AUTH, "/users/{id}", MANAGEMENT, "Change an account's role or disable it."),
    Rule(
        "GET",
        "/api/ops/replication",
        GATEWAY,
        "outbox stats + freshness",
        STAFF,
        "Replication health: outbox backlog and age, consumer lag, freshness, DLQ and quarantine.",
    ),
    Rule(
        "GET",
        OPS_CONSUMERS,
        GATEWAY,
        "projector /consumers",
        STAFF,
        "The projector's consumer group: each member (client id, host) with its partitions and their lag.",
    ),
    Rule(
        "GET",
        OPS_DEAD_LETTERS,
        GATEWAY,
        "projector /dead-letters",
        STAFF,
        "The 50 newest dead letters, newest first: partition, offset, key, when, and the headers that say why.",
    ),
    Rule(
        "GET",
        OPS_HISTORY,
        GATEWAY,
        "Prometheus query_range",
        STAFF,
        "Consumer lag and events applied per second over the last hour, a point a minute (PROMETHEUS_URL).",
    ),
    Rule(
        "GET",
        OPS_ALERTS,
        GATEWAY,
        "Prometheus alerts",
        STAFF,
        "The firing alerts (name, severity, summary, since when); `unknown` when Prometheus does not answer.",
    ),
    Rule(
        "POST",
        OPS_REPAIR,
        GATEWAY,
        "projector repair (digest, republish)",
        WORKER,
        "Repair one sale as `reconcile --repair` does: compared with MySQL, republished (or removed) when it differs.",
    ),
    Rule(
        "GET",
        JOURNEY,
        GATEWAY,
        "outbox journey + copy's applied version",
        WORKER,
        "A sale's journey: each change committed, published (partition, offset), applied, with its trace.",
    ),
)


class Policy:
    """Resolves a method and path to its rule; anything not in the table resolves to nothing."""

    def __init__(self, rules: Iterable[Rule] = POLICY) -> None:
        self.rules: Sequence[Rule] = tuple(rules)
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            key = (rule.method, rule.path)
            if key in seen:
                raise ValueError(f"duplicate rule {rule.method} {rule.path}")
            seen.add(key)

    def resolve(self, method: str, path: str) -> Match | None:
        if path.startswith("/internal") or "/internal/" in path:
            return None
        method = method.upper()
        for rule in self.rules:
            if rule.method != method:
                continue
            found = rule.pattern.match(path)
            if found:
                return Match(rule, found.groupdict())
        return None

    def rule(self, method: str, path: str) -> Rule:
        """The row with exactly this method and path template."""
        for rule in self.rules:
            if rule.method == method and rule.path == path:
                return rule
        raise KeyError(f"{method} {path}")

    def public_path(self, upstream: str, path: str) -> str | None:
        """The public path that leads to `path` on `upstream` (the shortest when several routes do:
        `/sales/{id}` on the writer is `/api/sales/{id}`, not its `/current` read), or None when no
        route leads there. Upstream paths must never reach a client untranslated."""
        found = []
        for rule in self.rules:
            if rule.upstream != upstream:
                continue
            matched = rule.upstream_pattern.match(path)
            if matched:
                found.append(_fill(rule.path, matched.groupdict()))
        return min(found, key=len) if found else None

    def markdown(self) -> str:
        lines = [
            "| method | public path | who | upstream | upstream path | class | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        for rule in self.rules:
            notes = [rule.summary]
            if rule.owner_only:
                notes.append("Customers: only their own (404 otherwise).")
            if rule.rate_class is RateClass.CREDENTIALS:
                notes.append("Strict rate limit per client address.")
            if rule.expensive:
                notes.append("Expensive: capped per user.")
            lane = rule.lane.value if rule.lane else "-"
            lines.append(
                f"| {rule.method} | `{rule.path}` | {rule.who()} | {rule.upstream} | `{rule.upstream_path}` "
                f"| {lane} | {' '.join(notes)} |"
            )
        return "\n".join(lines)
