from pathlib import Path

import pytest

from supply_common.identity import ROLES
from supply_gateway.domain.policy import GATEWAY, POLICY, Policy, RateClass

policy = Policy()


@pytest.mark.parametrize(
    ("method", "path", "upstream", "target"),
    [
        ("POST", "/api/auth/login", "auth", "/login"),
        ("POST", "/api/auth/register", "auth", "/register"),
        ("POST", "/api/auth/verify-email", "auth", "/verify-email"),
        ("GET", "/.well-known/jwks.json", "auth", "/.well-known/jwks.json"),
        ("GET", "/api/me/sales", "projector", "/me/sales"),
        ("GET", "/api/sales", "projector", "/sales"),
        ("POST", "/api/sales", "sales-writer", "/sales"),
        ("POST", "/api/sales/import", "sales-writer", "/sales/import"),
        ("GET", "/api/sales/5bd761dcae323e45a93ccfe8", "projector", "/sales/5bd761dcae323e45a93ccfe8"),
        ("GET", "/api/sales/5bd761dcae323e45a93ccfe8/current", "sales-writer", "/sales/5bd761dcae323e45a93ccfe8"),
        ("PUT", "/api/sales/abc", "sales-writer", "/sales/abc"),
        ("DELETE", "/api/sales/abc", "sales-writer", "/sales/abc"),
        ("GET", "/api/analytics/by-store", "projector", "/analytics/by-store"),
        ("PATCH", "/api/users/17", "auth", "/users/17"),
        ("GET", "/api/ops/replication", GATEWAY, "outbox stats + freshness"),
        ("GET", "/api/ops/sales/5bd761dcae323e45a93ccfe8/journey", GATEWAY, "outbox journey + copy's applied version"),
    ],
)
def test_routes_resolve_to_their_upstream(method: str, path: str, upstream: str, target: str) -> None:
    match = policy.resolve(method, path)
    assert match is not None
    assert (match.rule.upstream, match.upstream_path) == (upstream, target)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/internal/outbox/stats"),
        ("GET", "/internal/outbox/stats"),
        ("GET", "/api/sales/x/internal/y"),
        ("GET", "/api/nothing"),
        ("PATCH", "/api/sales/abc"),
        ("DELETE", "/api/users/1"),
        ("GET", "/api/analytics/secret-report"),
        ("GET", "/api/sales/a/b"),
        ("GET", "/api/sales/"),
        ("POST", "/api/auth/me"),
        ("GET", "/api/sales/..%2f"),
    ],
)
def test_anything_not_in_the_table_resolves_to_nothing(method: str, path: str) -> None:
    assert policy.resolve(method, path) is None


def test_roles_per_row() -> None:
    def roles(method: str, path: str) -> set[str]:
        match = policy.resolve(method, path)
        assert match is not None
        return {role for role in ROLES if match.rule.allows(role)}

    assert roles("GET", "/api/me/sales") == {"customer"}
    assert roles("GET", "/api/sales/x") == set(ROLES)
    assert roles("GET", "/api/sales") == {"technical_worker", "senior_management"}
    assert roles("POST", "/api/sales") == {"technical_worker"}
    assert roles("GET", "/api/users") == {"senior_management"}
    assert roles("GET", "/api/ops/replication") == {"technical_worker", "senior_management"}
    assert roles("GET", "/api/ops/sales/x/journey") == {"technical_worker"}
    assert policy.resolve("GET", "/api/auth/me").rule.who() == "any signed-in user"  # type: ignore[union-attr]
    assert policy.resolve("POST", "/api/auth/login").rule.rate_class is RateClass.CREDENTIALS  # type: ignore[union-attr]


def test_path_parameters_are_quoted_for_the_upstream() -> None:
    match = policy.resolve("PATCH", "/api/users/a~b.c")
    assert match is not None
    assert match.upstream_path == "/users/a~b.c"


def test_the_readme_shows_the_table_as_it_is() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert policy.markdown() in readme, "regenerate with `gateway policy` and paste into services/gateway/README.md"


def test_a_bad_row_is_refused() -> None:
    from supply_gateway.domain.policy import Rule

    with pytest.raises(ValueError, match="unknown roles"):
        Rule("GET", "/x", "auth", "/x", frozenset({"admin"}), "x")
    with pytest.raises(ValueError, match="parameter"):
        Rule("GET", "/x", "auth", "/x/{id}", frozenset({"customer"}), "x")
    with pytest.raises(ValueError, match="duplicate"):
        Policy([POLICY[0], POLICY[0]])


def test_upstream_paths_map_back_to_public_paths() -> None:
    policy = Policy()
    assert (
        policy.public_path("sales-writer", "/sales/5bd761dcae323e45a93ccfe8") == "/api/sales/5bd761dcae323e45a93ccfe8"
    )
    assert policy.public_path("sales-writer", "/sales") == "/api/sales"
    assert policy.public_path("projector", "/me/sales") == "/api/me/sales"
    assert policy.public_path("auth", "/users/12") == "/api/users/12"
    assert policy.public_path("auth", "/me") == "/api/auth/me"
    assert policy.public_path("sales-writer", "/internal/outbox/stats") is None
