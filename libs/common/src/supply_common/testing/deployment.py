"""Run the Supply Store services as OS processes on free ports against throwaway stores.

Used by the gateway's integration and browser tests and by the repo's end-to-end suite:

    deployment = Deployment.create(servers, make_database=...)   # the `servers` fixture
    deployment.migrate()
    deployment.create_user("boss@example.com", "senior_management", "Pw-long-enough-1")
    deployment.start_all()          # waits on every /readyz
    ...
    deployment.stop_all()           # also on failure; kills what does not stop

Each service is a `supply_common.processes.Process`. Faults for the end-to-end suite:
`processes[name].kill() / pause() / resume()`, `deployment.restart(name, **env)`, and
`stack("stop" | "start" | "kill", "mariadb" | "kafka" | "ferretdb")` for the shared servers (always
start them again in `finally`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supply_common.kafka import delete_topics, ensure_topics
from supply_common.processes import PROCESSES, SERVICE_CREDENTIALS, Process
from supply_common.settings import KafkaSettings
from supply_common.testing.fixtures import Servers, random_name
from supply_common.testing.stack import repo_root, stack_command

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(name: str) -> str:
    """A workspace console script (`auth`, `gateway`, ...) from this interpreter's environment."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"console script {name!r} not found; run `uv sync --all-packages`")
    return found


@dataclass
class Deployment:
    """The four services wired to each other and to throwaway databases, topics and a Mongo database."""

    base_env: dict[str, str]
    work_dir: Path
    names: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        servers: Servers,
        *,
        make_database: Callable[[str], str],
        extra_env: Mapping[str, str] | None = None,
        work_dir: Path | None = None,
    ) -> Deployment:
        work_dir = work_dir or Path(tempfile.mkdtemp(prefix="supply-deploy-"))
        (work_dir / "keys").mkdir(parents=True, exist_ok=True)
        topic = random_name("test_sales") + ".events"
        names = {
            "auth_db": make_database("auth"),
            "sales_db": make_database("sales"),
            "mongo_db": random_name("test_supply"),
            "topic": topic,
            "dlq_topic": topic + ".dlq",
            "account_topic": random_name("test_auth") + ".account-events",
            "group": random_name("test_projector"),
        }
        env = {
            **{name: value for name, value in os.environ.items() if name != "AUTH_SMTP_URL"},
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "INFO",
            "SUPPLY_REPO_ROOT": str(repo_root()),
            "MYSQL_URL": servers.mysql_url,
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
            "MONGO_URL": servers.mongo_url,
            "MONGO_DATABASE": names["mongo_db"],
            "SALES_TOPIC": names["topic"],
            "DLQ_TOPIC": names["dlq_topic"],
            "ACCOUNT_EVENTS_TOPIC": names["account_topic"],
            "SALES_TOPIC_PARTITIONS": "3",
            "CONSUMER_GROUP": names["group"],
            "PROJECTOR_GROUP_ID": names["group"],
            "AUTH_KEYS_DIR": str(work_dir / "keys"),
            "AUTH_MAIL_DIR": str(work_dir / "mail"),
        }
        env.update(extra_env or {})
        deployment = cls(env, work_dir, names)
        ports = {name: free_port() for name in ("auth", "sales-writer", "mongo-projector", "gateway")}
        deployment.add(
            "auth",
            PROCESSES["auth"].argv,
            ports["auth"],
            {"MYSQL_DATABASE": names["auth_db"], "AUTH_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['gateway']}"},
        )
        # Every service checks its callers' tokens against this auth's keys.
        keys = {"AUTH_JWKS_URL": f"http://127.0.0.1:{ports['auth']}/.well-known/jwks.json"}
        # The sales-writer's server relays the outbox itself here: no relay process of its own.
        writer = PROCESSES["sales-writer"].argv
        deployment.add("sales-writer", writer, ports["sales-writer"], {"MYSQL_DATABASE": names["sales_db"], **keys})
        deployment.add(
            "mongo-projector-consume",
            PROCESSES["mongo-projector-consume"].argv,
            None,
            {"METRICS_PORT": str(free_port()), "HEARTBEAT_FILE": str(work_dir / "consume.alive")},
        )
        deployment.add(
            "mongo-projector",
            PROCESSES["mongo-projector"].argv,
            ports["mongo-projector"],
            {**keys, "SALES_WRITER_URL": f"http://127.0.0.1:{ports['sales-writer']}"},
        )
        deployment.add("gateway", PROCESSES["gateway"].argv, ports["gateway"], deployment.gateway_env())
        return deployment

    @property
    def mail_dir(self) -> Path:
        """Auth's mail drop: what it mailed, one `.eml` file per message (`supply_common.testing.mail`)."""
        return Path(self.base_env["AUTH_MAIL_DIR"])

    def add(self, name: str, argv: Sequence[str], port: int | None, env: Mapping[str, str]) -> Process:
        full_env = {**self.base_env, **env}
        if port is not None:
            full_env["PORT"] = str(port)
        resolved = [command(argv[0]), *argv[1:]]
        process = Process(name, resolved, full_env, self.work_dir / f"{name}.log", port, cwd=repo_root())
        self.processes[name] = process
        return process

    def add_relay(self, name: str = "sales-writer-relay", **env: str) -> Process:
        """The outbox relay in a process of its own (`sales-writer relay`); the sales-writer's server,
        started after this, no longer relays."""
        self.processes["sales-writer"].env["RELAY_ENABLED"] = "false"
        relay_env = {"MYSQL_DATABASE": self.names["sales_db"], "RELAY_METRICS_PORT": str(free_port()), **env}
        return self.add(name, ["sales-writer", "relay"], None, relay_env)

    def gateway_env(self, **overrides: str) -> dict[str, str]:
        """Env for a gateway pointing at this deployment's upstreams (overrides win)."""
        env = {
            "AUTH_URL": self.url("auth"),
            "SALES_WRITER_URL": self.url("sales-writer"),
            "PROJECTOR_URL": self.url("mongo-projector"),
            "SERVICE_TOKEN_FILE": str(self.credential_path("gateway")),
        }
        env.update(overrides)
        return env

    def add_gateway(self, name: str, **overrides: str) -> Process:
        """One more gateway process (own port, own settings) in front of the same upstreams."""
        return self.add(name, PROCESSES["gateway"].argv, free_port(), self.gateway_env(**overrides))

    def url(self, name: str) -> str:
        process = self.processes.get(name)
        if process is None or process.port is None:
            raise KeyError(name)
        return process.url

    def run(self, argv: list[str], *, env: Mapping[str, str] | None = None, stdin: str | None = None) -> str:
        result = subprocess.run(  # noqa: S603 - a workspace console script
            [command(argv[0]), *argv[1:]],
            env={**self.base_env, **(env or {})},
            cwd=repo_root(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def migrate(self) -> None:
        self.run(["auth", "migrate"], env={"MYSQL_DATABASE": self.names["auth_db"]})
        if not any((self.work_dir / "keys").glob("*.pem")):
            self.run(["auth", "rotate-keys"], env={"MYSQL_DATABASE": self.names["auth_db"]})
        for subject, scopes in SERVICE_CREDENTIALS.items():
            self.issue_credential(subject, *scopes)
        self.run(["sales-writer", "migrate"], env={"MYSQL_DATABASE": self.names["sales_db"]})
        _run_async(lambda: ensure_topics(self.kafka_settings()))

    def credential_path(self, subject: str) -> Path:
        return self.work_dir / "service-tokens" / f"{subject}.jwt"

    def issue_credential(self, subject: str, *scopes: str) -> Path:
        """A service credential for `subject` from this deployment's auth, as a file (`SERVICE_TOKEN_FILE`)."""
        path = self.credential_path(subject)
        argv = ["auth", "issue-service-token", "--subject", subject, "--out", str(path), "--ttl-s", "86400"]
        self.run([*argv, *(part for scope in scopes for part in ("--scope", scope))])
        return path

    def operator_env(self, subject: str = "reconcile") -> dict[str, str]:
        """The environment of an operator command run against this deployment (`reconcile` by default):
        the service credential issued for it at `migrate`."""
        return {"SERVICE_TOKEN_FILE": str(self.credential_path(subject)), "SALES_WRITER_URL": self.url("sales-writer")}

    def kafka_settings(self) -> KafkaSettings:
        return KafkaSettings(
            kafka_bootstrap_servers=self.base_env["KAFKA_BOOTSTRAP_SERVERS"],
            sales_topic=self.names["topic"],
            dlq_topic=self.names["dlq_topic"],
            account_events_topic=self.names["account_topic"],
            sales_topic_partitions=int(self.base_env["SALES_TOPIC_PARTITIONS"]),
        )

    def create_user(self, email: str, role: str, password: str, name: str | None = None) -> None:
        self.run(
            [
                "auth",
                "create-user",
                "--email",
                email,
                "--role",
                role,
                "--name",
                name or email.split("@")[0],
                "--password-stdin",
            ],
            env={"MYSQL_DATABASE": self.names["auth_db"]},
            stdin=password + "\n",
        )

    def start(self, *names: str, timeout_s: float = 90.0) -> None:
        for name in names:
            self.processes[name].start()
        for name in names:
            self.processes[name].wait_ready(timeout_s)

    def start_all(self) -> None:
        """The upstreams first (all at once), then the gateway."""
        self.start(*[name for name in self.processes if name != "gateway"])
        self.start("gateway")

    def stop(self, *names: str) -> None:
        for name in names:
            self.processes[name].stop()

    def restart(self, name: str, timeout_s: float = 60.0, **env: str) -> None:
        """Start a process again (stopping it first if it still runs), with env changes if given."""
        process = self.processes[name]
        if process.running:
            process.stop()
        elif process.popen is not None:
            process.popen.wait(10)
            process.popen = None
        process.env.update(env)
        process.start()
        process.wait_ready(timeout_s)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def drop_stores(self) -> None:
        """Drop the Mongo database and the topics (the MySQL databases belong to their factory)."""
        with contextlib.suppress(Exception):
            from pymongo import MongoClient

            client: MongoClient = MongoClient(self.base_env["MONGO_URL"], serverSelectionTimeoutMS=3000)
            client.drop_database(self.names["mongo_db"])
            client.close()
        with contextlib.suppress(Exception):
            bootstrap = self.base_env["KAFKA_BOOTSTRAP_SERVERS"]
            topics = [self.names["topic"], self.names["dlq_topic"], self.names["account_topic"]]
            _run_async(lambda: delete_topics(bootstrap, topics.__contains__, timeout_s=5))

    def logs(self) -> str:
        return "\n\n".join(f"== {name}\n{process.log_tail()}" for name, process in self.processes.items())


def _run_async(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion on its own thread (callers may already be inside an event loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


STACK_COMPONENTS = ("mariadb", "kafka", "ferretdb")


def stack(action: str, component: str) -> None:
    """`deploy/local/stack stop|start|kill NAME`: faults of the shared local servers."""
    if component not in STACK_COMPONENTS or action not in ("stop", "start", "kill"):
        raise ValueError(f"stack {action} {component}")
    stack_command(action, component)


@contextlib.contextmanager
def running(deployment: Deployment) -> Iterator[Deployment]:
    try:
        deployment.start_all()
        yield deployment
    finally:
        deployment.stop_all()
        deployment.drop_stores()
