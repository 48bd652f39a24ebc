"""The end-to-end suite's fixtures: a fresh deployment of every service as OS processes per test."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.collection import Collection
from sqlalchemy import Engine, create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convergence import ConvergenceReport, wait_for_convergence
from faults import Faults
from hostile import People, login
from load import Load, Tally, Tokens

from supply_common.testing.deployment import STACK_COMPONENTS, Deployment, free_port
from supply_common.testing.fixtures import Servers
from supply_common.testing.stack import stack_command

LOAD_ENV = {
    "RATE_CREDENTIALS_PER_MIN": "6000",
    "RATE_CREDENTIALS_BURST": "1000",
    "RATE_USER_PER_S": "10000",
    "RATE_USER_BURST": "10000",
    "RATE_PUBLIC_PER_S": "10000",
    "RATE_PUBLIC_BURST": "10000",
}


@dataclass
class Scenario:
    """One deployment under test, its worker account, its fault log and its stores."""

    name: str
    deployment: Deployment
    engine: Engine
    mongo: MongoClient[dict[str, Any]]
    worker_email: str
    password: str
    faults: Faults
    started: float = field(default_factory=time.monotonic)
    phases: list[str] = field(default_factory=list)

    def mark(self, phase: str) -> None:
        self.phases.append(f"{phase} at {time.monotonic() - self.started:.1f} s")

    @property
    def gateway(self) -> str:
        return self.deployment.url("gateway")

    def tokens(self) -> Tokens:
        return Tokens(self.gateway, self.worker_email, self.password)

    def load(self, *, writes: int, rate_per_s: float, workers: int = 8, seed: int | None = None) -> Load:
        return Load(self.gateway, self.tokens(), writes=writes, rate_per_s=rate_per_s, workers=workers, seed=seed)

    def add_consumer(self, name: str) -> None:
        """One more `mongo-projector consume` in the same group, started."""
        self.deployment.add(
            name,
            ["mongo-projector", "consume"],
            None,
            {"METRICS_PORT": str(free_port()), "HEARTBEAT_FILE": str(self.deployment.work_dir / f"{name}.alive")},
        )
        self.deployment.start(name)

    def copy(self) -> Collection[dict[str, Any]]:
        """The collection that holds the sales now (a rebuild may have switched it)."""
        from supply_projector.adapters.mongo import ActiveCollection

        database = self.mongo[self.deployment.names["mongo_db"]]
        return database[ActiveCollection(database).name()]

    def converge(self, tally: Tally, timeout_s: float = 90.0) -> ConvergenceReport:
        """Wait for the copy to equal MySQL; print the scenario's counts either way."""
        self.mark("load done")
        report = wait_for_convergence(self.engine, self.copy(), timeout_s=timeout_s)
        self.mark("compared")
        lines = [
            tally.line(),
            f"faults injected: {len(self.faults.injected)} ({'; '.join(self.faults.injected)})",
            f"convergence: {report.summary()}",
            ", ".join(self.phases),
        ]
        print("", *(f"[{self.name}] {line}" for line in lines), sep="\n", flush=True)
        SCENARIO_REPORTS.append((self.name, lines))
        assert report.converged, report.summary() + "\n" + self.deployment.logs()
        return report


Launch = Callable[..., Scenario]

SCENARIO_REPORTS: list[tuple[str, list[str]]] = []
"""What each scenario did and found, printed once at the end of the run (pytest captures the
per-test output of passing tests)."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SCENARIO_REPORTS:
        return
    terminalreporter.section("scenario reports")
    for name, lines in SCENARIO_REPORTS:
        terminalreporter.write_line(name)
        for line in lines:
            terminalreporter.write_line(f"    {line}")


def _new_scenario(
    name: str,
    servers: Servers,
    make_database: Callable[[str], str],
    work_dir: Path,
    extra_env: Mapping[str, str] | None,
    start: bool,
) -> Scenario:
    deployment = Deployment.create(
        servers,
        make_database=make_database,
        work_dir=work_dir,
        extra_env={**LOAD_ENV, **(extra_env or {})},
    )
    engine = create_engine(f"{servers.mysql_url}/{deployment.names['sales_db']}?charset=utf8mb4", pool_pre_ping=True)
    mongo: MongoClient[dict[str, Any]] = MongoClient(servers.mongo_url, serverSelectionTimeoutMS=10_000, tz_aware=True)
    email, password = f"worker.{secrets.token_hex(4)}@example.com", f"E2e-{secrets.token_urlsafe(12)}"
    scenario = Scenario(name, deployment, engine, mongo, email, password, Faults(deployment))
    try:
        deployment.migrate()
        deployment.create_user(email, "technical_worker", password)
        scenario.mark("migrated")
        if start:
            deployment.start_all()
            scenario.mark("started")
    except BaseException:
        _tear_down(scenario)
        raise
    return scenario


def _tear_down(scenario: Scenario) -> None:
    _resume_all(scenario.deployment)
    _ensure_stack_running()
    scenario.deployment.stop_all()
    scenario.deployment.drop_stores()
    scenario.engine.dispose()
    scenario.mongo.close()


def _resume_all(deployment: Deployment) -> None:
    for process in deployment.processes.values():
        if process.popen is not None and process.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGCONT)


def _ensure_stack_running() -> None:
    """A scenario that stops a shared server starts it again in `finally`; this is the backstop."""
    for component in STACK_COMPONENTS:
        if stack_command("status", "--only", component, check=False, capture=True).returncode != 0:
            stack_command("start", component, check=False)


@pytest.fixture
def launch(
    request: pytest.FixtureRequest, servers: Servers, fresh_mysql_database: Callable[[str], str], tmp_path: Path
) -> Iterator[Launch]:
    """`launch(extra_env={...})` starts a deployment of its own; all is torn down after the test."""
    made: list[Scenario] = []

    def start(extra_env: Mapping[str, str] | None = None, start: bool = True) -> Scenario:
        scenario = _new_scenario(
            request.node.name,
            servers,
            fresh_mysql_database,
            tmp_path / f"deployment{len(made)}",
            extra_env,
            start,
        )
        made.append(scenario)
        return scenario

    try:
        yield start
    finally:
        for scenario in made:
            _tear_down(scenario)


@pytest.fixture(scope="session")
def shared(
    servers: Servers, session_mysql_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    scenario = _new_scenario(
        "shared",
        servers,
        session_mysql_database,
        tmp_path_factory.mktemp("shared"),
        None,
        True,
    )
    try:
        yield scenario
    finally:
        _tear_down(scenario)


@pytest.fixture
def scenario(request: pytest.FixtureRequest, shared: Scenario) -> Scenario:
    """The deployment shared by the tests that need nothing special: each gets it with every process
    running, and its own fault log and clock."""
    _ensure_stack_running()
    _resume_all(shared.deployment)
    for name, process in shared.deployment.processes.items():
        if not process.running:
            process.popen = None
            shared.deployment.start(name)
    current = replace(
        shared, name=request.node.name, faults=Faults(shared.deployment), started=time.monotonic(), phases=[]
    )
    return current


@pytest.fixture(scope="module")
def people(shared: Scenario) -> People:
    """The shared worker, a senior manager and two customers of their own, signed in (once a module)."""
    deployment = shared.deployment
    tag = secrets.token_hex(3)
    made: dict[str, tuple[str, str]] = {}
    for name, role in (
        ("boss", "senior_management"),
        ("customer", "customer"),
        ("other", "customer"),
    ):
        email, password = f"{name}.{tag}@example.com", f"Hx-{secrets.token_urlsafe(12)}"
        deployment.create_user(email, role, password)
        made[name] = (email, password)
    tokens = {name: login(shared.gateway, *made[name]) for name in made}
    return People(
        worker=login(shared.gateway, shared.worker_email, shared.password),
        boss=tokens["boss"],
        customer=tokens["customer"],
        other=tokens["other"],
        customer_email=made["customer"][0],
        other_email=made["other"][0],
    )


@pytest.fixture(scope="module")
def client(shared: Scenario) -> Iterator[httpx.Client]:
    """A client of the gateway (once a module)."""
    with httpx.Client(base_url=shared.gateway, timeout=30) as made:
        yield made
