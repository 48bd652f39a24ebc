"""FerretDB v1 built from its Go module with the project's patches, on SQLite or PostgreSQL."""

# ruff: noqa: S603
from __future__ import annotations

import hashlib
import os
import secrets
import socket
import struct
import subprocess
from pathlib import Path

from .component import Component
from .host import (
    HOST,
    SCRIPT_DIR,
    StackError,
    env_int,
    find_go,
    find_program,
    go_build,
    go_built,
    go_module_source,
    read_from,
    recv_exact,
    step,
    write_private,
    write_secret,
)
from .postgres import Postgres

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# Unified diffs against the v1.24.2 module source, applied in name order before building; each one's
# reason is in deploy/local/README.md.
FERRETDB_PATCH_DIR = SCRIPT_DIR / "ferretdb"
FERRETDB_BACKENDS = ("sqlite", "pg")
DEFAULT_FERRETDB_BACKEND = "sqlite"
# Go's collector runs when the heap has grown by GOGC percent since the last one (default 100). Each
# stored sale makes FerretDB allocate its BSON, SJSON and SQL text several times over: inserting
# stored-shape sales in batches of 50 took 277 us of its CPU per sale at 100, 217-223 at 200 and
# 187-193 at 400 (800 and 1,600: 183-193), for 40, 41-43 and 49-51 MB of RSS.
DEFAULT_FERRETDB_GOGC = 400
# FerretDB's experimental SCRAM authentication: clients must log in, but 1.24 has no roles (createUser
# refuses any), so every user may do everything, manage users included; one user serves all clients.
MONGO_USER = "supply"
MONGO_AUTH_DATABASE = "admin"


def ferretdb_backend() -> str:
    """FerretDB backend chosen by STACK_FERRETDB_BACKEND (sqlite or pg)."""
    backend = os.environ.get("STACK_FERRETDB_BACKEND", "").strip() or DEFAULT_FERRETDB_BACKEND
    if backend not in FERRETDB_BACKENDS:
        raise StackError(f"STACK_FERRETDB_BACKEND must be one of {', '.join(FERRETDB_BACKENDS)}")
    return backend


def bson_document(*elements: bytes) -> bytes:
    """A BSON document from encoded elements."""
    body = b"".join(elements)
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def mongo_answers(port: int, timeout: float = 2.0) -> bool:
    """Whether a MongoDB wire server answers {hello: 1} with ok: 1."""
    command = bson_document(
        b"\x10hello\0" + struct.pack("<i", 1),
        b"\x02$db\0" + struct.pack("<i", 6) + b"admin\0",
    )
    body = struct.pack("<IB", 0, 0) + command
    message = struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(message)
            size, _, response_to, op_code = struct.unpack("<iiii", recv_exact(sock, 16))
            reply = recv_exact(sock, size - 16)
    except (OSError, struct.error):
        return False
    marker = reply.find(b"\x01ok\0")
    if op_code != 2013 or response_to != 1 or marker < 0:
        return False
    (ok,) = struct.unpack_from("<d", reply, marker + 4)
    return bool(ok == 1.0)


class FerretDB(Component, name="ferretdb", default_port=27017, port_env="STACK_MONGO_PORT"):
    """FerretDB v1 (MongoDB wire protocol) on SQLite or PostgreSQL."""

    def setup(self) -> None:
        self.binary = self.home / "bin" / "ferretdb"
        self.sqlite_dir = self.home / "sqlite"
        self.state_dir = self.home / "state"
        self.backend = ferretdb_backend()
        self.password_file = self.stack.secrets_dir / "mongo_password"
        self.auth_stamp = self.home / "auth.stamp"

    def password(self) -> str:
        """The user's password, generated on first use."""
        return write_secret(self.password_file, lambda: secrets.token_urlsafe(24))

    @staticmethod
    def patches() -> list[Path]:
        """The patch files, in the order they apply."""
        return sorted(FERRETDB_PATCH_DIR.glob("*.patch"))

    def build_id(self) -> str:
        """Identifies the version and patches the binary was built with."""
        digest = hashlib.sha256(FERRETDB_VERSION.encode())
        for patch in self.patches():
            digest.update(patch.name.encode() + b"\0" + patch.read_bytes())
        return digest.hexdigest()

    def install(self) -> None:
        if go_built(self.binary, self.build_id()):
            return
        go = find_go(self.name, "to build FerretDB")
        build = self.home / "build"
        with step(self.name, f"building {FERRETDB_VERSION} with go"):
            self.fetch_source(go, build)
            go_build(go, build, "./cmd/ferretdb", self.binary, self.build_id(), self.setup_log, try_with=["--version"])

    def write_source(self, target: Path) -> None:
        """The patched source tree in target (replaced), to read or to run FerretDB's Go tests in."""
        self.fetch_source(find_go(self.name, "to fetch FerretDB's source"), target.resolve())

    def fetch_source(self, go: str, build: Path) -> None:
        """Copy the module source into build, add the version files a release build generates, apply patches.

        `go install ...@version` alone gives a binary that panics at start-up: the module zip lacks
        build/version/version.txt.
        """
        info = go_module_source(go, FERRETDB_MODULE, FERRETDB_VERSION, build, self.name)
        version_dir = build / "build" / "version"
        (version_dir / "version.txt").write_text(FERRETDB_VERSION + "\n")
        commit = info.get("Origin", {}).get("Hash")
        if commit:
            (version_dir / "commit.txt").write_text(commit + "\n")
        patch = find_program("patch", ())
        if patch is None:
            raise StackError(f"{self.name}: patch(1) is needed to build FerretDB; it is not on PATH")
        for diff in self.patches():
            applied = subprocess.run(
                [patch, "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-d", str(build), "-i", str(diff)],
                capture_output=True,
                text=True,
                check=False,
            )
            if applied.returncode != 0:
                raise StackError(f"{self.name}: {diff.name} does not apply:\n{applied.stdout}{applied.stderr}")

    def prepare(self) -> None:
        for path in (self.sqlite_dir, self.state_dir):
            path.mkdir(parents=True, exist_ok=True)
        # FerretDB creates the user only with its database; with a new password (a lost secret) start
        # the users again from nothing (SQLite: the database is one file). The sales are kept.
        auth_id = hashlib.sha256(f"{MONGO_USER}:{self.password()}".encode()).hexdigest()
        if not self.auth_stamp.exists() or self.auth_stamp.read_text().strip() != auth_id:
            if self.backend == "sqlite":
                for stale in self.sqlite_dir.glob(f"{MONGO_AUTH_DATABASE}.sqlite*"):
                    stale.unlink()
            write_private(self.auth_stamp, auth_id + "\n")

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            f"--listen-addr={HOST}:{self.port}",
            f"--state-dir={self.state_dir}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--log-format=text",
            "--log-level=info",
            "--test-enable-new-auth",
            f"--setup-username={MONGO_USER}",
            f"--setup-database={MONGO_AUTH_DATABASE}",
        ]
        if self.backend == "pg":
            return [*cmd, "--handler=postgresql"]
        # conditions on dotted paths reach the SQLite backend, which pushes down those it can (patch 0004)
        return [*cmd, "--handler=sqlite", f"--sqlite-url=file:{self.sqlite_dir}/", "--test-enable-nested-pushdown"]

    def launch_env(self) -> dict[str, str] | None:
        env = {
            **os.environ,
            "GOGC": str(env_int("STACK_FERRETDB_GOGC", DEFAULT_FERRETDB_GOGC)),
            "FERRETDB_SETUP_PASSWORD": self.password(),  # not on the command line, which anyone may list
        }
        if self.backend == "pg":
            postgres = self.stack.components["postgres"]
            assert isinstance(postgres, Postgres)
            env["FERRETDB_POSTGRESQL_URL"] = postgres.url()
        return env

    def owns(self, argv: list[str]) -> bool:
        return argv[0] == str(self.binary)

    def started(self) -> bool:
        return self.process is None or "Listening on TCP" in read_from(self.log_file, self.log_mark)

    def answers(self) -> bool:
        return mongo_answers(self.port)

    def url(self) -> str:
        """MongoDB connection URL with the user's credentials."""
        return f"mongodb://{MONGO_USER}:{self.password()}@{HOST}:{self.port}/?authSource={MONGO_AUTH_DATABASE}"
