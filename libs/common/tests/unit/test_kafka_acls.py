"""Compose's Kafka grants the services the same ACLs as the local stack's: the stack's table
(`KAFKA_ACLS` in deploy/local/stack) against the `acl` lines of deploy/compose/kafka-start.sh."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shlex
from types import ModuleType

from supply_common.testing.stack import repo_root

SERVICES = {"sales-writer", "mongo-projector"}  # `tests` and `admin` exist only in the local stack


def stack_script() -> ModuleType:
    path = repo_root() / "deploy" / "local" / "stack"
    loader = importlib.machinery.SourceFileLoader("local_stack", str(path))
    spec = importlib.util.spec_from_loader("local_stack", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def grants(args: list[str]) -> set[tuple[str, str, str, str]]:
    """(principal, permission, operation, resource) from AclCommand arguments."""
    principal = permission = ""
    operations: list[str] = []
    resources: list[str] = []
    pairs = iter(args)
    for arg in pairs:
        if arg in ("--allow-principal", "--deny-principal"):
            permission, principal = arg[2:].split("-")[0], next(pairs).removeprefix("User:")
        elif arg == "--operation":
            operations.append(next(pairs))
        elif arg in ("--topic", "--group"):
            resources.append(f"{arg[2:]}:{next(pairs)}")
    return {(principal, permission, operation, resource) for operation in operations for resource in resources}


def compose_grants() -> set[tuple[str, str, str, str]]:
    script = (repo_root() / "deploy" / "compose" / "kafka-start.sh").read_text()
    found: set[tuple[str, str, str, str]] = set()
    for command in script.replace("\\\n", " ").splitlines():
        words = shlex.split(command, comments=True)
        if words[:1] == ["acl"]:
            found |= grants(words[1:])
    return found


def test_compose_grants_the_services_what_the_local_stack_grants() -> None:
    local: set[tuple[str, str, str, str]] = set()
    for principal, permission, operations, resources in stack_script().KAFKA_ACLS:
        if principal in SERVICES:
            flag = f"--{permission}-principal"
            local |= grants(
                [flag, f"User:{principal}", *(a for o in operations for a in ("--operation", o)), *resources]
            )
    assert local
    assert compose_grants() == local
