"""Compose issues the system's service credentials from the same table as every other launcher
(`SERVICE_CREDENTIALS`): the `issue-service-token` commands of its `service-credentials` one-shot."""

from __future__ import annotations

import shlex

import yaml

from supply_common.processes import SERVICE_CREDENTIALS
from supply_common.testing.stack import repo_root
from supply_common.tokens import SCOPES


def compose_credentials() -> dict[str, set[str]]:
    compose = yaml.safe_load((repo_root() / "docker-compose.yml").read_text())
    [script] = compose["services"]["service-credentials"]["command"]
    issued: dict[str, set[str]] = {}
    for command in script.split("&&"):
        words = iter(shlex.split(command))
        subject, scopes = None, set()
        for word in words:
            if word == "--subject":
                subject = next(words)
            elif word == "--scope":
                scopes.add(next(words))
        assert subject is not None, command
        issued[subject] = scopes
    return issued


def test_compose_issues_each_caller_the_scopes_of_the_table() -> None:
    assert compose_credentials() == {subject: set(scopes) for subject, scopes in SERVICE_CREDENTIALS.items()}


def test_the_table_holds_only_scopes_auth_issues() -> None:
    assert all(set(scopes) <= set(SCOPES) for scopes in SERVICE_CREDENTIALS.values())
