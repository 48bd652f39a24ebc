"""The gateway's whole OpenAPI fuzzed (schemathesis), each operation as a role it allows: no 5xx, and
every answer as the schema says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Scenario
from hostile import People, bearer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _fuzz(operation: Any, base_url: str, headers: dict[str, str], calls: list[int]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

    @settings(max_examples=4, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def fuzz(case: schemathesis.Case) -> None:
        calls.append(1)
        case.call_and_validate(
            base_url=base_url,
            headers=headers,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            timeout=30,
        )

    fuzz()


def test_schemathesis_finds_no_5xx_and_no_schema_violation(shared: Scenario, people: People) -> None:
    """Every operation of the gateway's OpenAPI, fuzzed with a few examples as a role it allows."""
    import schemathesis

    from supply_gateway.domain.policy import Policy

    @schemathesis.serializer("application/x-ndjson")
    def json_lines(_: Any, value: Any) -> bytes:
        records = value if isinstance(value, list) else [value]
        return "\n".join(json.dumps(record) for record in records).encode()

    policy = Policy()
    token_for = {"technical_worker": people.worker, "senior_management": people.boss, "customer": people.customer}
    schema = schemathesis.openapi.from_url(f"{shared.gateway}/openapi.json")
    calls: list[int] = []
    operations = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        rule = policy.rule(operation.method.upper(), operation.path)
        role = next((r for r in ("technical_worker", "senior_management", "customer") if rule.allows(r)), None)
        headers = bearer(token_for[role]) if role and not rule.is_public else {}
        try:
            _fuzz(operation, shared.gateway, headers, calls)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    print(f"  schemathesis: {len(calls)} calls over {operations} operations, {len(failures)} failing")
    assert not failures, "\n".join(failures)
    assert operations == len(policy.rules)
    assert len(calls) >= operations
