"""Debian's Prometheus with the rules of deploy/prometheus, scraping the processes of a local run."""

from __future__ import annotations

from pathlib import Path

from .component import Component
from .host import HOST, REPO_ROOT, Apt, StackError, as_root, find_program, http_ok, run

PROMETHEUS_FILES = REPO_ROOT / "deploy" / "prometheus"


class Prometheus(Component, name="prometheus", default_port=9090, port_env="STACK_PROMETHEUS_PORT", ready_timeout=30.0):
    """Debian's Prometheus with deploy/prometheus's rules, scraping the processes of a local run, on
    STACK_PROMETHEUS_PORT (default 9090).

    It starts in about a second, so it runs whenever the stack does. Debian's package would run its
    own instance as a system service on the same port: that one is never started (policy-rc.d during
    the install, disabled after it) and this script runs its own, with its data under the stack."""

    def setup(self) -> None:
        self.data_dir = self.home / "data"
        self.config = PROMETHEUS_FILES / "local.yml"

    def install(self) -> None:
        if find_program("prometheus") and find_program("promtool"):
            return
        policy = Path("/usr/sbin/policy-rc.d")
        # A policy-rc.d that exits 101 keeps the package's scripts from starting its service.
        denied = not policy.exists()
        if denied:
            deny = "#!/bin/sh\nexit 101\n"
            run(as_root(["install", "-m", "755", "/dev/stdin", str(policy)]), self.setup_log, stdin=deny)
        try:
            Apt.install(self.name, ["--no-install-recommends", "prometheus"], self.setup_log)
        finally:
            if denied:
                run(as_root(["rm", "-f", str(policy)]), self.setup_log)
        if Path("/run/systemd/system").is_dir():
            run(as_root(["systemctl", "disable", "prometheus"]), self.setup_log)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        program = find_program("prometheus")
        if program is None:
            raise StackError(f"{self.name}: prometheus not found")
        return [
            program,
            f"--config.file={self.config}",
            f"--web.listen-address={HOST}:{self.port}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=7d",
            "--log.format=logfmt",
        ]

    def owns(self, argv: list[str]) -> bool:
        return Path(argv[0]).name == "prometheus" and f"--storage.tsdb.path={self.data_dir}" in argv

    def answers(self) -> bool:
        return http_ok(f"{self.url()}/-/ready")

    def url(self) -> str:
        """Address of its web UI and HTTP API."""
        return f"http://{HOST}:{self.port}"
