"""What every row gets: the profile, the stack, throwaway resources that are removed at the end, the
progress display, the RSS sampler, and values one row hands to a later one."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench.env import Stack
from bench.model import Run
from bench.profile import Profile
from bench.services import RssSampler, ServiceProcess, executable, run_command
from supply_common.kafka import client_options, delete_topics
from supply_common.processes import PROCESSES
from supply_common.testing.stack import repo_root

log = logging.getLogger("bench")


def projector_env(*, mongo_database: str, topic: str, dlq: str, group: str) -> dict[str, str | int]:
    """The settings of a projector process (consumer or read API) on a run's own collections and topics."""
    return {
        "mongo_database": mongo_database,
        "sales_topic": topic,
        "dlq_topic": dlq,
        "consumer_group": group,
        "metrics_port": 0,
    }


@dataclass
class Context:
    profile: Profile
    stack: Stack
    run_id: str
    out_dir: Path
    run: Run
    console: Console
    sampler: RssSampler = field(default_factory=RssSampler)
    shared: dict[str, Any] = field(default_factory=dict)
    _cleanups: list[Callable[[], None]] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=itertools.count)
    _progress: Progress | None = None
    _step_task: Any = None

    # progress -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, total_rows: int) -> Iterator[Callable[[str], None]]:
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as progress:
            self._progress = progress
            rows_task = progress.add_task("rows", total=total_rows)
            self._step_task = progress.add_task("", total=None)

            def advance(title: str) -> None:
                progress.update(rows_task, advance=1, description=title)

            yield advance
        self._progress = None

    def step(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._step_task, description=text)
        else:
            self.console.log(text)

    def say(self, text: str) -> None:
        self.console.log(text)

    # throwaway resources --------------------------------------------------------------------------
    def later(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def cleanup(self) -> None:
        while self._cleanups:
            action = self._cleanups.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                log.warning("cleanup failed: %s", exc)

    def mysql_database(self, suffix: str) -> str:
        """A new `test_bench_*` database (the app user may create `test_%` databases), dropped at the end;
        names never repeat within a run, so a retried row starts from nothing."""
        name = f"test_bench_{self.run_id}_{suffix}{next(self._names)}"
        with self.stack.mysql() as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")

        def drop() -> None:
            with self.stack.mysql() as connection, connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")

        self.later(drop)
        return name

    def mongo_database(self, suffix: str) -> str:
        name = f"bench_{self.run_id}_{suffix}{next(self._names)}"

        def drop() -> None:
            with self.stack.mongo() as client:
                client.drop_database(name)

        self.later(drop)
        return name

    def topic(self, suffix: str, partitions: int = 6, compact: bool = False) -> str:
        name = f"bench.{self.run_id}.{suffix}.{next(self._names)}"
        config = {"cleanup.policy": "compact"} if compact else {}
        asyncio.run(self._create_topic(name, partitions, config))
        self.later(lambda: asyncio.run(delete_topics(self.stack.kafka, name.__eq__, timeout_s=15)))
        return name

    async def _create_topic(self, name: str, partitions: int, config: dict[str, str]) -> None:
        admin = AIOKafkaAdminClient(**client_options(self.stack.kafka), request_timeout_ms=15_000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, replication_factor=1, topic_configs=config)])
        finally:
            await admin.close()

    # services -------------------------------------------------------------------------------------
    def account_events_topic(self) -> str:
        """One account-events topic for the run's processes (the bench's principal may not read the
        project's own): auth publishes there and every token verifier replays it."""
        if "account_events_topic" not in self.shared:
            self.shared["account_events_topic"] = self.topic("accounts", partitions=1, compact=True)
        return str(self.shared["account_events_topic"])

    def service_env(self, **overrides: str | int) -> dict[str, str]:
        env = {
            **os.environ,
            **self.stack.env(),
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
            "SUPPLY_REPO_ROOT": str(repo_root()),
            "ACCOUNT_EVENTS_TOPIC": self.account_events_topic(),
        }
        env.update({key.upper(): str(value) for key, value in overrides.items()})
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def service(self, name: str, argv: Sequence[str], port: int | None = None, **env: str | int) -> ServiceProcess:
        """A process (not yet started) of `argv`, whose first word is a console script of the workspace
        (the commands are in `supply_common.processes.PROCESSES`); it is stopped at the end of the run
        at the latest."""
        if port is not None:
            env = {"port": port, **env}
        process = ServiceProcess(
            name=name,
            argv=[str(executable(argv[0])), *argv[1:]],
            env=self.service_env(**env),
            log_path=self.out_dir / "logs" / f"{name}.log",
            port=port,
            cwd=repo_root(),
        )
        self.later(process.stop)
        return process

    def consumer(
        self,
        name: str,
        *,
        mongo_database: str,
        topic: str,
        dlq: str,
        group: str,
        metrics_port: int = 0,
        **settings: str | int,
    ) -> ServiceProcess:
        """A `mongo-projector consume` process (not yet started) on these collections and topics, with
        other settings of the projector's (`batch_max_records`) where given."""
        env = projector_env(mongo_database=mongo_database, topic=topic, dlq=dlq, group=group)
        return self.service(
            name, PROCESSES["mongo-projector-consume"].argv, **(env | settings | {"metrics_port": metrics_port})
        )

    def command(self, name: str, cli: str, args: list[str], stdin: str | None = None, **env: str | int) -> None:
        log_file = self.out_dir / "logs" / f"{name}.log"
        run_command([str(executable(cli)), *args], self.service_env(**env), log_file, stdin=stdin)
