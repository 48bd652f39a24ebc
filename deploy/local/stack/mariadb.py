"""MariaDB from Debian's package: a private instance with the application databases and user."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from .component import Component
from .host import HOST, Apt, StackError, find_program, owner_only, run, step, succeeds, write_secret

MYSQL_APP_USER = "supply"
MYSQL_DATABASES = ("auth", "sales")
MYSQL_TEST_DATABASE_PATTERN = r"test\_%"


class MariaDB(Component, name="mariadb", default_port=3306, port_env="STACK_MYSQL_PORT"):
    """Private MariaDB instance with the application databases and user."""

    def setup(self) -> None:
        self.datadir = self.home / "data"
        self.socket = self.stack.run_dir / "mariadb.sock"
        self.password_file = self.stack.secrets_dir / "mysql_app_password"

    def password(self) -> str:
        """Application user's password, generated on first use."""
        return write_secret(self.password_file, lambda: secrets.token_urlsafe(24))

    def url(self) -> str:
        """SQLAlchemy URL without a database name."""
        return f"mysql+pymysql://{MYSQL_APP_USER}:{self.password()}@{HOST}:{self.port}"

    def install(self) -> None:
        if not (find_program("mariadbd") and find_program("mariadb-install-db") and find_program("mariadb")):
            Apt.install(self.name, ["mariadb-server", "mariadb-client"], self.setup_log)

    def prepare(self) -> None:
        self.stack.run_dir.mkdir(parents=True, exist_ok=True)
        if (self.datadir / "mysql").is_dir():
            return
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.datadir.mkdir(parents=True)
        user = "root" if os.geteuid() == 0 else os.environ.get("USER") or str(os.geteuid())
        with step(self.name, "initialising data directory"):
            run(
                [
                    self.program("mariadb-install-db"),
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--user={user}",
                    "--auth-root-authentication-method=socket",
                    f"--auth-root-socket-user={user}",
                    "--skip-test-db",
                ],
                self.setup_log,
            )
        owner_only(self.datadir)  # the bootstrap server wrote them with its default umask (0660)

    def program(self, name: str) -> str:
        """Path of a MariaDB executable."""
        path = find_program(name)
        if path is None:
            raise StackError(f"{self.name}: {name} not found")
        return path

    def command(self) -> list[str]:
        cmd = [
            self.program("mariadbd"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--pid-file={self.home / 'mariadbd.pid'}",
            f"--port={self.port}",
            f"--bind-address={HOST}",
            "--skip-name-resolve",
            "--innodb-flush-log-at-trx-commit=1",
            "--innodb-buffer-pool-size=256M",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--max-connections=500",
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        return cmd

    def owns(self, argv: list[str]) -> bool:
        return Path(argv[0]).name == "mariadbd" and f"--datadir={self.datadir}" in argv

    def launch_env(self) -> dict[str, str] | None:
        # mariadbd sets its own umask from these (defaults 0660 and 0700), not from the one it inherits.
        return {**os.environ, "UMASK": "0600", "UMASK_DIR": "0700"}

    def started(self) -> bool:
        return self.pings("--protocol=socket", f"--socket={self.socket}", "--user=root")

    def answers(self) -> bool:
        return self.pings(
            "--protocol=tcp",
            f"--host={HOST}",
            f"--port={self.port}",
            f"--user={MYSQL_APP_USER}",
            env={**os.environ, "MYSQL_PWD": self.password()},
        )

    def pings(self, *connection: str, env: dict[str, str] | None = None) -> bool:
        """Whether the server answers mariadb-admin's ping over `connection` within two seconds."""
        return succeeds(
            [self.program("mariadb-admin"), "--no-defaults", *connection, "--connect-timeout=2", "ping"], env=env
        )

    def after_ready(self) -> None:
        password = self.password()
        statements = [
            f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            for db in MYSQL_DATABASES
        ]
        for host in (HOST, "localhost"):
            account = f"'{MYSQL_APP_USER}'@'{host}'"
            statements += [
                f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}'",
                f"ALTER USER {account} IDENTIFIED BY '{password}'",
                *(f"GRANT ALL PRIVILEGES ON `{db}`.* TO {account}" for db in MYSQL_DATABASES),
                f"GRANT ALL PRIVILEGES ON `{MYSQL_TEST_DATABASE_PATTERN}`.* TO {account}",
            ]
        run(
            [
                self.program("mariadb"),
                "--no-defaults",
                "--protocol=socket",
                f"--socket={self.socket}",
                "--user=root",
                "--batch",
            ],
            self.setup_log,
            stdin=";\n".join(statements) + ";\n",
        )
