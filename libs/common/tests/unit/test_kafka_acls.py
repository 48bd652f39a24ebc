"""Compose's Kafka grants the services the same ACLs as the local stack's: the stack's table
(`KAFKA_ACLS` in deploy/local/stack/kafka.py) against the `acl` lines of deploy/compose/kafka-start.sh; and it
makes a SCRAM user for each service principal, whose password is the one the service logs in with."""

from __future__ import annotations

import re
import shlex

import yaml

from supply_common.testing.stack import repo_root, stack_package

SERVICES = {"sales-writer", "mongo-projector", "auth", "gateway"}  # `tests` and `admin` exist only in the local stack


def grants(args: list[str]) -> set[tuple[str, str, str, str]]:
    """(principal, permission, operation, resource) from AclCommand arguments."""
    principals: list[tuple[str, str]] = []
    operations: list[str] = []
    resources: list[str] = []
    pairs = iter(args)
    for arg in pairs:
        if arg in ("--allow-principal", "--deny-principal"):
            principals.append((next(pairs).removeprefix("User:"), arg[2:].split("-")[0]))
        elif arg == "--operation":
            operations.append(next(pairs))
        elif arg in ("--topic", "--group"):
            resources.append(f"{arg[2:]}:{next(pairs)}")
    return {
        (principal, permission, operation, resource)
        for principal, permission in principals
        for operation in operations
        for resource in resources
    }


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
    for principal, permission, operations, resources in stack_package().KAFKA_ACLS:
        if principal in SERVICES:
            flag = f"--{permission}-principal"
            local |= grants(
                [flag, f"User:{principal}", *(a for o in operations for a in ("--operation", o)), *resources]
            )
    assert local
    assert compose_grants() == local


def test_compose_makes_each_service_principal_a_user_with_the_password_its_services_log_in_with() -> None:
    script = (repo_root() / "deploy" / "compose" / "kafka-start.sh").read_text()
    users = dict(re.findall(r"--add-scram \"SCRAM-SHA-512=\[name=([\w-]+),password=\$\{(\w+)\}\]\"", script))
    assert set(users) == SERVICES | {"admin"}
    assert set(users) <= set(stack_package().KAFKA_PRINCIPALS)

    compose = yaml.safe_load((repo_root() / "docker-compose.yml").read_text())
    logins: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if isinstance(env, dict) and "KAFKA_USERNAME" in env:
            password = re.fullmatch(r"\$\{(\w+)(?::\?[^}]*)?\}", env["KAFKA_PASSWORD"])
            assert password, name
            assert password.group(1) == users[env["KAFKA_USERNAME"]], name
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
            logins.setdefault(env["KAFKA_USERNAME"], set()).add(name)
    assert set(logins) == SERVICES
    kafka_env = compose["services"]["kafka"]["environment"]
    assert set(users.values()) <= set(kafka_env)
