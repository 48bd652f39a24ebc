"""PostgreSQL from Debian's package: FerretDB's backend when STACK_FERRETDB_BACKEND=pg."""

# ruff: noqa: S603
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from .component import Component
from .host import HOST, Apt, StackError, run, step, succeeds, write_secret

PG_USER = "ferretdb"
PG_DATABASE = "ferretdb"


class Postgres(Component, name="postgres", default_port=5432, port_env="STACK_PG_PORT", stop_signal=signal.SIGINT):
    """Private PostgreSQL cluster used as FerretDB's backend when STACK_FERRETDB_BACKEND=pg."""

    def setup(self) -> None:
        self.datadir = self.home / "data"
        self.socket_dir = self.home / "run"
        self.password_file = self.stack.secrets_dir / "postgres_password"

    def bindir(self) -> Path | None:
        """bin directory of the newest Debian PostgreSQL."""
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
        return found[-1].parent if found else None

    def program(self, name: str) -> str:
        """Path of a PostgreSQL executable."""
        bindir = self.bindir()
        if bindir is None:
            raise StackError(f"{self.name}: PostgreSQL is not installed")
        return str(bindir / name)

    def password(self) -> str:
        """FerretDB's PostgreSQL password, generated on first use."""
        return write_secret(self.password_file, lambda: secrets.token_urlsafe(24))

    def url(self) -> str:
        """PostgreSQL URL for FerretDB."""
        return f"postgres://{PG_USER}:{self.password()}@{HOST}:{self.port}/{PG_DATABASE}"

    def install(self) -> None:
        if self.bindir() is None:
            Apt.install(self.name, ["postgresql"], self.setup_log)

    def identity(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    def prepare(self) -> None:
        user = self.identity().get("user")
        for path in (self.home, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if user:
            self.home.chmod(0o711)  # its own user passes through to the folders it owns
            shutil.chown(self.socket_dir, user, user)
        self.socket_dir.chmod(0o700)
        if (self.datadir / "PG_VERSION").exists():
            return
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.datadir.mkdir(mode=0o700)
        if user:
            shutil.chown(self.datadir, user, user)
        with step(self.name, "initialising cluster"):
            run(
                [
                    self.program("initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    PG_USER,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ],
                self.setup_log,
                **self.identity(),
            )

    def command(self) -> list[str]:
        return [
            self.program("postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
        ]

    def owns(self, argv: list[str]) -> bool:
        return Path(argv[0]).name == "postgres" and str(self.datadir) in argv

    def answers(self) -> bool:
        return succeeds([self.program("pg_isready"), "-q", "-h", HOST, "-p", str(self.port)])

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL over the private socket as the cluster's superuser; return its output."""
        result = subprocess.run(
            [
                self.program("psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                database,
            ],
            input=sql,
            capture_output=True,
            text=True,
            check=False,
            **self.identity(),
        )
        if result.returncode != 0:
            raise StackError(f"{self.name}: psql failed: {result.stderr.strip()}")
        return str(result.stdout).strip()

    def after_ready(self) -> None:
        self.psql(f"ALTER ROLE {PG_USER} PASSWORD '{self.password()}';")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}';") != "1":  # noqa: S608
            self.psql(f"CREATE DATABASE {PG_DATABASE};")
