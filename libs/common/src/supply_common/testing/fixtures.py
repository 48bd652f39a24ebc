"""pytest fixtures for the real servers (loaded as a pytest plugin by every test run).

Each server is taken, in order, from its env URL (`MYSQL_URL`, `KAFKA_BOOTSTRAP_SERVERS`,
`MONGO_URL`); else from a testcontainers container when a Docker engine answers; else from the
project's own local stack (`deploy/local/stack up`). A server that cannot be had fails the test
that needs it: it never turns into a skip.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supply_common.testing.stack import repo_root, stack_env


def _docker_container(kind: str) -> Any | None:
    """Start a container of `kind` if a Docker engine answers, else None."""
    try:
        if kind == "mysql":
            from testcontainers.mysql import MySqlContainer

            container: Any = MySqlContainer("mysql:8.4", username="root", password="test", dbname="sales")  # noqa: S106
        elif kind == "kafka":
            from testcontainers.kafka import KafkaContainer

            container = KafkaContainer("apache/kafka:3.9.1").with_kraft()
        else:
            from testcontainers.mongodb import MongoDbContainer

            container = MongoDbContainer("mongo:7")
        container.start()
    except Exception:  # noqa: BLE001 - no Docker engine (DockerException) or no image: use the local stack
        return None
    return container


_KAFKA_CLIENT_ENV = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_USERNAME", "KAFKA_PASSWORD")


class _Servers:
    """Resolves each server once per test session and stops what it started."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.containers: list[Any] = []

    def url(self, kind: str) -> str:
        if kind in self.urls:
            return self.urls[kind]
        env_name = {"mysql": "MYSQL_URL", "kafka": "KAFKA_BOOTSTRAP_SERVERS", "mongo": "MONGO_URL"}[kind]
        value = os.environ.get(env_name)
        if not value and os.environ.get("SUPPLY_TEST_USE_DOCKER", "1") == "1":
            container = _docker_container(kind)
            if container is not None:
                self.containers.append(container)
                if kind == "mysql":
                    value = container.get_connection_url().rsplit("/", 1)[0]
                elif kind == "kafka":
                    value = container.get_bootstrap_server()
                else:
                    value = container.get_connection_url()
        if not value:
            component = {"mysql": "mariadb", "kafka": "kafka", "mongo": "ferretdb"}[kind]
            try:
                env = stack_env(start=[component])
                value = env[env_name]
            except (subprocess.CalledProcessError, KeyError, OSError) as exc:
                pytest.fail(f"{kind} could not be had (env {env_name} unset, no Docker, local stack failed): {exc}")
            if kind == "kafka":  # the stack's broker wants a principal: the one for tests, as the clients read it
                for name in _KAFKA_CLIENT_ENV:
                    if name in env:
                        os.environ.setdefault(name, env[name])
        self.urls[kind] = value
        return value

    def close(self) -> None:
        for container in self.containers:
            container.stop()


@pytest.fixture(scope="session")
def _servers() -> Iterator[_Servers]:
    servers = _Servers()
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def mysql_url(_servers: _Servers) -> str:
    """Server URL without a database, e.g. `mysql+pymysql://user:pw@127.0.0.1:3306`."""
    return _servers.url("mysql")


@pytest.fixture(scope="session")
def kafka_bootstrap(_servers: _Servers) -> Iterator[str]:
    """The broker; at the end of the session the topics this session named are deleted from it (a
    long-lived local broker otherwise collects thousands of them, one or two per test)."""
    servers = _servers.url("kafka")
    yield servers
    delete_named_topics(servers, _SESSION_NAMES)


@pytest.fixture(scope="session")
def mongo_url(_servers: _Servers) -> str:
    return _servers.url("mongo")


@dataclass(frozen=True)
class Servers:
    """Where the three servers answer: what a deployment of the services (`Deployment.create`) is
    pointed at."""

    mysql_url: str
    """Without a database, e.g. `mysql+pymysql://user:pw@127.0.0.1:3306`."""
    kafka_bootstrap: str
    mongo_url: str


@pytest.fixture(scope="session")
def servers(mysql_url: str, kafka_bootstrap: str, mongo_url: str) -> Servers:
    return Servers(mysql_url, kafka_bootstrap, mongo_url)


_SESSION_NAMES: set[str] = set()


def random_name(prefix: str) -> str:
    """Random ids per test instead of truncating shared tables. Kafka topics named from one (the name
    itself, or it followed by `.` or `_` and a suffix) are deleted at the end of the session."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    _SESSION_NAMES.add(name)
    return name


def delete_named_topics(servers: str, names: Collection[str]) -> None:
    """Delete the topics named from one of `names`: the name itself, or it followed by `.` or `_` and a
    suffix (`<name>.events`, `<name>_dlq`)."""
    from supply_common.kafka import delete_topics  # the plugin loads in every suite; Kafka only here

    def named_here(topic: str) -> bool:
        return any(topic == name or topic.startswith((name + ".", name + "_")) for name in names)

    try:
        asyncio.run(delete_topics(servers, named_here))
    except Exception as exc:  # noqa: BLE001 - leftovers cost disk, not correctness
        warnings.warn(f"test topics could not be deleted: {exc!r}", stacklevel=1)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return repo_root()


def _database_factory(mysql_url: str) -> Iterator[Callable[[str], str]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(mysql_url + "/?charset=utf8mb4", pool_pre_ping=True)
    made: list[str] = []

    def make(prefix: str) -> str:
        name = random_name(f"test_{prefix}")
        with engine.begin() as connection:
            connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        made.append(name)
        return name

    yield make
    with engine.begin() as connection:
        for name in made:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


@pytest.fixture
def fresh_mysql_database(mysql_url: str) -> Iterator[Callable[[str], str]]:
    """A factory making throwaway databases named `test_<prefix>_<random>`; dropped afterwards."""
    yield from _database_factory(mysql_url)


@pytest.fixture(scope="session")
def session_mysql_database(mysql_url: str) -> Iterator[Callable[[str], str]]:
    """`fresh_mysql_database` for session-scoped fixtures (services started once per test run)."""
    yield from _database_factory(mysql_url)


@pytest.fixture
def span_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An `OtlpReceiver` that this process's spans go to during the test (`receiving_spans`)."""
    from supply_common.testing.otlp import receiving_spans  # tracing is an optional extra

    with receiving_spans(monkeypatch) as receiving:
        yield receiving


def not_here(reason: str) -> None:
    """Skip a test whose servers are not the local stack's; under CI (`CI=true`, where `.ci/run` starts
    the local stack) the same absence is a failure, so no skip can hide a missing service there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"under CI this must run: {reason}")
    pytest.skip(reason)
