"""The state folder and the components in it: what `up`, `down`, `status` and `env` do."""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .component import Component
from .ferretdb import FerretDB, ferretdb_backend
from .host import REPO_ROOT, StackError, owner_only
from .jaeger import Jaeger, tracing_requested
from .kafka import Kafka
from .mariadb import MariaDB
from .postgres import Postgres
from .prometheus import Prometheus

COMPONENTS: dict[str, type[Component]] = {
    "mariadb": MariaDB,
    "kafka": Kafka,
    "postgres": Postgres,
    "ferretdb": FerretDB,
    "prometheus": Prometheus,
    "jaeger": Jaeger,
}
REQUIRES: dict[str, tuple[str, ...]] = {"ferretdb": ("postgres",)}
PUBLIC = ("mariadb", "kafka", "ferretdb", "prometheus")


class Stack:
    """The state folder and the components in it."""

    def __init__(self) -> None:
        self.root = Path(os.environ.get("STACK_DIR") or REPO_ROOT / ".stack").resolve()
        self.run_dir = self.root / "run"
        self.log_dir = self.root / "logs"
        self.secrets_dir = self.root / "secrets"
        self.components = {name: cls(self) for name, cls in COMPONENTS.items()}

    def select(self, only: Sequence[str] | None, *, for_start: bool) -> list[Component]:
        """Components in start order: those asked for (default: all in use), plus what they need to start."""
        default: tuple[str, ...] = PUBLIC
        # Jaeger when tracing is asked for; and stopped or shown whenever it runs.
        if tracing_requested() or (not for_start and self.components["jaeger"].pid_file.exists()):
            default = (*PUBLIC, "jaeger")
        names = set(only or default)
        unknown = names - set(COMPONENTS)
        if unknown:
            raise StackError(f"unknown component(s): {', '.join(sorted(unknown))}; known: {', '.join(COMPONENTS)}")
        postgres = self.components["postgres"]
        if for_start and "ferretdb" in names and ferretdb_backend() == "pg":
            names.add("postgres")
        if not for_start and not only and (ferretdb_backend() == "pg" or postgres.pid_file.exists()):
            names.add("postgres")
        return [self.components[name] for name in COMPONENTS if name in names]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock so that concurrent invocations do not race."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / "stack.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def up(self, only: Sequence[str] | None) -> None:
        """Install, prepare and start whatever selected component is not running; wait for all to answer."""
        started = time.monotonic()
        selected = self.select(only, for_start=True)
        self.keep_private()
        for component in selected:
            component.install()
        for component in selected:
            if component.pid() is None:
                component.check_ports()
        waited: set[str] = set()
        for component in selected:
            for required in REQUIRES.get(component.name, ()):
                dependency = self.components[required]
                if dependency in selected and required not in waited:
                    dependency.wait_ready()
                    waited.add(required)
            pid = component.pid()
            if pid is not None:
                reason = component.outdated(pid)
                if reason is None:
                    print(f"{component.name}: already running (pid {pid}) on {component.endpoint()}", flush=True)
                    continue
                print(f"{component.name}: restarting pid {pid}: {reason}", flush=True)
                component.stop()
            component.prepare()
            component.launch()
        self.wait_all([component for component in selected if component.name not in waited])
        print(f"stack: up ({time.monotonic() - started:.1f} s)", flush=True)

    def keep_private(self) -> None:
        """Data, logs and secrets readable by their owner only. PostgreSQL runs as its own user when the
        script runs as root, so then the state folder lets others pass through (not list) to its home."""
        self.root.mkdir(parents=True, exist_ok=True)
        postgres = self.components["postgres"]
        shared = os.geteuid() == 0 and (ferretdb_backend() == "pg" or postgres.home.exists())
        self.root.chmod(0o711 if shared else 0o700)
        owner_only(self.root, skip=[postgres.home] if shared else [])

    @staticmethod
    def wait_all(components: Sequence[Component]) -> None:
        """Wait for several components at once; report every failure."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(components))) as pool:
            futures = [pool.submit(component.wait_ready) for component in components]
        errors = [error for error in (future.exception() for future in futures) if error is not None]
        for error in errors:
            if not isinstance(error, StackError):
                raise error
        if errors:
            raise StackError("\n".join(str(error) for error in errors))

    def down(self, only: Sequence[str] | None, sig: signal.Signals | None = None) -> None:
        """Stop the selected components in reverse start order."""
        for component in reversed(self.select(only, for_start=False)):
            component.stop(sig)

    def status(self, only: Sequence[str] | None) -> bool:
        """Print one line per component; True if all are running and answering."""
        healthy = True
        for component in self.select(only, for_start=False):
            pid = component.pid()
            answering = component.answers() if pid is not None else False
            healthy = healthy and answering
            state = "running" if pid is not None else "stopped"
            print(
                f"{component.name:<9} {state:<8} pid {pid or '-'!s:<8} {component.endpoint():<16} "
                f"answering {'yes' if answering else 'no'}"
            )
        return healthy

    def env(self, principal: str) -> None:
        """Print the connection settings of the stack as KEY=VALUE lines, Kafka's as `principal`."""
        mariadb = self.components["mariadb"]
        assert isinstance(mariadb, MariaDB)
        kafka = self.components["kafka"]
        assert isinstance(kafka, Kafka)
        ferretdb = self.components["ferretdb"]
        assert isinstance(ferretdb, FerretDB)
        if not mariadb.password_file.exists():
            raise StackError("no MySQL password yet: run `stack up` first")
        print(f"MYSQL_URL={mariadb.url()}")
        print(f"KAFKA_BOOTSTRAP_SERVERS={kafka.endpoint()}")
        for name, value in kafka.credentials(principal).items():
            print(f"{name}={value}")
        print(f"MONGO_URL={ferretdb.url()}")
