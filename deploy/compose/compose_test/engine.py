"""podman's Docker API on a private socket, docker-compose through it, and the healthchecks driven by hand."""

# ruff: noqa: S603, S607
from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .shell import ENV, GATEWAY_PORT, HERE, PROJECT, ROOT, Failed, podman, say, sh


class Engine:
    """`podman system service` on a private socket, for as long as the run lasts."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="supply-compose-"))
        self.socket = self.dir / "podman.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Engine:
        log = (self.dir / "service.log").open("wb")
        self.process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
        deadline = time.monotonic() + 30
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise Failed(f"podman system service did not answer: {(self.dir / 'service.log').read_text()[-2000:]}")
            time.sleep(0.2)
        return self

    def answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(2)
                client.connect(str(self.socket))
                client.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b" 200 " in client.recv(64)
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Compose:
    """docker-compose 1.29 on docker-compose.yml plus the override, through the engine's socket."""

    def __init__(self, engine: Engine) -> None:
        self.env = {
            **ENV,
            "DOCKER_HOST": f"unix://{engine.socket}",
            "COMPOSE_PROJECT_NAME": PROJECT,
            "MYSQL_PASSWORD": secrets.token_hex(12),
            "MYSQL_ROOT_PASSWORD": secrets.token_hex(12),
            **{
                name: secrets.token_hex(12)
                for name in (
                    *("MONGO_ROOT_PASSWORD", "MONGO_PROJECTOR_PASSWORD", "MONGO_READ_API_PASSWORD"),
                    *("KAFKA_ADMIN_PASSWORD", "KAFKA_SALES_WRITER_PASSWORD", "KAFKA_PROJECTOR_PASSWORD"),
                    *("KAFKA_AUTH_PASSWORD", "KAFKA_GATEWAY_PASSWORD"),
                )
            },
            "GATEWAY_PORT": f"127.0.0.1:{GATEWAY_PORT}",
            "COMPOSE_HTTP_TIMEOUT": "300",
        }
        # --env-file: a developer's .env (production settings, a mail server) stays out of the test.
        no_env = engine.dir / "empty.env"
        no_env.write_text("")
        self.files = [
            "--env-file",
            str(no_env),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "-f",
            str(HERE / "test-override.yml"),
        ]

    def __call__(self, *args: str, timeout: float = 900, quiet: bool = False) -> str:
        return sh(["docker-compose", *self.files, *args], env=self.env, timeout=timeout, quiet=quiet)


def logs(name: str, lines: int = 40) -> str:
    """A container's last log lines (its stdout and stderr)."""
    result = subprocess.run(
        ["podman", "logs", "--tail", str(lines), name],
        env=ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return result.stdout


def containers(all_states: bool = True) -> list[dict[str, Any]]:
    """The project's containers: name, service, state, health (one `podman ps`, one `podman inspect`)."""
    names = podman(
        "ps",
        *(["-a"] if all_states else []),
        "--format",
        "{{.Names}}",
        "--filter",
        f"label=com.docker.compose.project={PROJECT}",
    ).split()
    if not names:
        return []
    found = []
    for inspected in json.loads(podman("inspect", *names, check=False) or "[]"):
        state = inspected.get("State", {})
        health = (state.get("Health") or state.get("Healthcheck") or {}).get("Status", "")
        config = inspected.get("Config") or {}
        test = (config.get("Healthcheck") or {}).get("Test") or []
        found.append(
            {
                "name": inspected.get("Name", "").lstrip("/"),
                "service": (config.get("Labels") or {}).get("com.docker.compose.service", ""),
                "state": state.get("Status", ""),
                "exit_code": state.get("ExitCode"),
                "health": health,
                "checked": bool(test) and test[0] != "NONE",
            }
        )
    return found


class HealthDriver(threading.Thread):
    """Runs each running container's healthcheck: every 2 s until healthy, then every 15 s.

    Podman records the result where `docker inspect` (and so docker-compose's service_healthy) reads it.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.last: dict[str, float] = {}

    def run(self) -> None:
        while not self.stopping.wait(2):
            with contextlib.suppress(Failed, subprocess.TimeoutExpired, json.JSONDecodeError):
                for container in containers(all_states=False):
                    if not container["checked"] or container["state"] != "running":
                        continue
                    every = 15 if container["health"] == "healthy" else 2
                    if time.monotonic() - self.last.get(container["name"], 0) >= every:
                        self.last[container["name"]] = time.monotonic()
                        podman("healthcheck", "run", container["name"], check=False, timeout=60)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def one_shot_services() -> set[str]:
    """The services others wait for to complete (`condition: service_completed_successfully`)."""
    text = (ROOT / "docker-compose.yml").read_text()
    return set(re.findall(r"^\s+([\w-]+): \{condition: service_completed_successfully\}", text, re.MULTILINE))


def wait_healthy(timeout: float = 300) -> None:
    """Every container with a healthcheck healthy, the others running, the one-shot ones exited 0."""
    deadline = time.monotonic() + timeout
    one_shot = one_shot_services()
    while True:
        listed = containers()
        pending = []
        for c in listed:
            if c["service"] in one_shot:
                if c["state"] == "exited" and c["exit_code"] != 0:
                    raise Failed(f"{c['name']} exited with {c['exit_code']}:\n{logs(c['name'])}")
                if c["state"] != "exited":
                    pending.append(f"{c['name']} {c['state']}")
            elif c["state"] != "running":
                raise Failed(f"{c['name']} is {c['state']}:\n{logs(c['name'])}")
            elif c["checked"] and c["health"] != "healthy":
                pending.append(f"{c['name']} {c['health'] or 'no health yet'}")
        if not pending:
            say("every container healthy: " + ", ".join(sorted(c["name"] for c in listed if c["checked"])))
            return
        if time.monotonic() > deadline:
            raise Failed("not healthy in time: " + ", ".join(pending))
        time.sleep(2)
