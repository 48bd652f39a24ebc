"""The OpenAPI document of the public API, derived from the policy table."""

from __future__ import annotations

from typing import Any

from supply_gateway.domain.policy import Policy, RateClass, Rule

_PROBLEM = {
    "description": "A problem document.",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _tag(rule: Rule) -> str:
    parts = [part for part in rule.path.split("/") if part and part != "api"]
    return {"auth": "auth", ".well-known": "auth", "me": "customer"}.get(parts[0], parts[0])


def _operation_id(rule: Rule) -> str:
    name = rule.path.strip("/").replace("/", "_").replace("{", "").replace("}", "").replace(".", "")
    return f"{rule.method.lower()}_{name}"


def _operation(rule: Rule) -> dict[str, Any]:
    description = [f"**Who:** {rule.who()}.", f"**Upstream:** {rule.upstream} `{rule.upstream_path}`."]
    if rule.owner_only:
        description.append("Customers may read only their own sale; anything else answers 404.")
    if rule.rate_class is RateClass.CREDENTIALS:
        description.append("Strictly rate limited per client address (429 with `Retry-After`).")
    responses: dict[str, Any] = {"200": {"description": "Success (see the upstream's contract)."}}
    if not rule.is_public:
        responses["401"] = _PROBLEM
        responses["403"] = _PROBLEM
    responses.update({"429": _PROBLEM, "502": _PROBLEM, "503": _PROBLEM, "504": _PROBLEM})
    operation: dict[str, Any] = {
        "summary": rule.summary,
        "description": "\n\n".join(description),
        "tags": [_tag(rule)],
        "operationId": _operation_id(rule),
        "responses": responses,
        "x-roles": rule.who(),
        "security": [] if rule.is_public else [{"bearer": []}, {"session": []}],
    }
    params = [segment[1:-1] for segment in rule.path.split("/") if segment.startswith("{")]
    if params:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in params
        ]
    if rule.method in ("POST", "PUT", "PATCH"):
        media = "application/x-ndjson" if rule.large_body else "application/json"
        operation["requestBody"] = {"content": {media: {"schema": {}}}}
    return operation


def openapi_document(policy: Policy, *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in policy.rules:
        paths.setdefault(rule.path, {})[rule.method.lower()] = _operation(rule)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The public API of Supply Store as clients call it. Every route, with the roles "
            "allowed to call it, comes from the gateway's policy table; anything else answers 404.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "sg_access",
                    "description": "Browser session; unsafe methods also need the `X-CSRF-Token` header.",
                },
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                            },
                        },
                    },
                }
            },
        },
    }
