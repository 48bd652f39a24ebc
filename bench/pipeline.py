"""Our write pipeline as processes of the bench, laid out as `make run` lays it out: sales-writer server
processes, the outbox relay in its own process (woken by their commit notices), the projector consumer,
and optionally the projector's read API, auth and gateway; each on throwaway databases and topics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.context import Context, projector_env
from bench.identity import Accounts, service_credential, start_auth
from bench.schema import sales_database
from bench.services import PORTS, ServiceProcess, require
from supply_common.kafka import client_options
from supply_common.processes import PROCESSES
from supply_common.settings import auto_workers

WRITER_WORKERS = int(os.environ.get("BENCH_WRITER_WORKERS", auto_workers()))
"""Server processes of the sales-writer as `make run` starts them (deploy/local/run, `WORKERS=auto`):
one per core less one, up to 4; BENCH_WRITER_WORKERS=N measures N."""
RELAY_APART = os.environ.get("BENCH_RELAY", "apart") != "inside"
"""The relay in its own process, woken by commit notices, as `make run` starts it; BENCH_RELAY=inside
runs it inside each server process instead."""


@dataclass
class Pipeline:
    ctx: Context
    suffix: str
    sales_db: str
    topic: str
    dlq: str
    mongo_db: str
    accounts: Accounts
    """The bench's auth and technical worker: the services verify the worker's token against it."""
    operator: dict[str, str] = field(default_factory=dict)
    """A service credential (scope `outbox:read`) for the writer's outbox state."""
    processes: list[ServiceProcess] = field(default_factory=list)
    projector: ServiceProcess | None = None
    paused: bool = False
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    """Where its processes listen: `PORTS` unless it runs beside another pipeline (`bench.services.ports`)."""

    @classmethod
    def start(cls, ctx: Context, suffix: str, projector: bool = True, ports: dict[str, int] = PORTS) -> Pipeline:
        require("sales-writer", "serve", "relay", "migrate")
        if projector:
            require("mongo-projector", "consume")
        accounts = start_auth(ctx)
        ctx.step(f"starting the pipeline ({suffix})")
        pipeline = cls(
            ctx,
            suffix,
            sales_db=sales_database(ctx, suffix),
            topic=ctx.topic(f"{suffix}.events", compact=True),
            dlq=ctx.topic(f"{suffix}.dlq", partitions=1),
            mongo_db=ctx.mongo_database(suffix),
            accounts=accounts,
            operator=service_credential(ctx, "bench", "outbox:read"),
            ports=dict(ports),
        )
        outbox: dict[str, str] = {
            "mysql_database": pipeline.sales_db,
            "sales_topic": pipeline.topic,
            "dlq_topic": pipeline.dlq,
        }
        if RELAY_APART:
            outbox["relay_wake_address"] = f"127.0.0.1:{ports['relay-notices']}"
            relay = ctx.service(
                f"sales-writer-relay-{suffix}",
                PROCESSES["sales-writer-relay"].argv,
                relay_metrics_port=ports["relay-metrics"],
                **outbox,
            )
            pipeline.processes.append(relay.start(ctx.sampler, "sales-writer relay"))
        writer = ctx.service(
            f"sales-writer-{suffix}",
            PROCESSES["sales-writer"].argv,
            port=ports["sales-writer"],
            workers=WRITER_WORKERS,
            relay_enabled=str(not RELAY_APART).lower(),
            auth_jwks_url=accounts.jwks_url,
            **outbox,
        )
        pipeline.processes.append(writer.start(ctx.sampler, "sales-writer serve"))
        if projector:
            consumer = ctx.consumer(
                f"projector-consume-{suffix}",
                mongo_database=pipeline.mongo_db,
                topic=pipeline.topic,
                dlq=pipeline.dlq,
                group=pipeline.group,
                metrics_port=ports["projector-metrics"],
            )
            pipeline.projector = consumer.start(ctx.sampler, "mongo-projector consume")
            pipeline.processes.append(pipeline.projector)
        writer.wait_ready()
        for process in pipeline.processes:
            if not process.running:
                raise RuntimeError(f"{process.name} exited: {process.log_tail()}")
        return pipeline

    @classmethod
    def shared(cls, ctx: Context, name: str) -> Pipeline:
        """One pipeline per name (one for everything in the quick run); starting one stops the previous one, as
        they share ports."""
        key = "main" if ctx.profile.name == "quick" else name
        pipelines: dict[str, Pipeline] = ctx.shared.setdefault("pipelines", {})
        if key not in pipelines:
            for other in pipelines.values():
                other.stop()
            pipelines[key] = cls.start(ctx, key)
            ctx.later(pipelines[key].stop)
        return pipelines[key]

    def projector_env(self) -> dict[str, str | int]:
        return projector_env(mongo_database=self.mongo_db, topic=self.topic, dlq=self.dlq, group=self.group)

    @property
    def group(self) -> str:
        return f"bench-{self.ctx.run_id}-{self.suffix}"

    @property
    def projector_metrics_url(self) -> str:
        """The consumer's Prometheus metrics (commit-to-written lag among them)."""
        return f"http://127.0.0.1:{self.ports['projector-metrics']}/metrics"

    @property
    def relay_metrics_url(self) -> str:
        """The relay's Prometheus metrics (commit-to-published latency among them): its own port when
        it runs apart, the server processes' `/metrics` when it runs inside them."""
        if RELAY_APART:
            return f"http://127.0.0.1:{self.ports['relay-metrics']}/metrics"
        return f"{self.writer_url}/metrics"

    def worker(self) -> dict[str, str]:
        """The technical worker's Authorization header, good for at least two more minutes."""
        return self.accounts.bearer()

    @property
    def writer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sales-writer']}"

    def settle(self, timeout_s: float = 120.0) -> None:
        """Wait until the whole pipeline is idle (the projector running again if it was paused): the
        outbox published and the projector's offsets at the end of the topic. Each measurement then
        starts from the same state instead of sharing the machine with the catch-up of the one before;
        what the relay and projector do during it still counts."""
        self._signal_projector(pause=False)
        asyncio.run(self._settle(timeout_s))

    async def _settle(self, timeout_s: float) -> None:
        servers = self.ctx.stack.kafka
        admin = AIOKafkaAdminClient(**client_options(servers), request_timeout_ms=15_000)
        consumer = AIOKafkaConsumer(**client_options(servers), enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                backlog = await asyncio.to_thread(self._outbox_backlog)
                lag = await self._projector_lag(admin, consumer) if self.has_projector else 0
                if backlog == 0 and lag == 0:
                    return
                if time.monotonic() > deadline:
                    self.ctx.say(
                        f"pipeline {self.suffix} not idle after {timeout_s:.0f} s (outbox {backlog}, lag {lag})"
                    )
                    return
                self.ctx.step(f"waiting for the pipeline to catch up: outbox {backlog}, projector lag {lag}")
                await asyncio.sleep(0.2)
        finally:
            await consumer.stop()
            await admin.close()

    def alone(self) -> None:
        """The sales-writer (with its relay) on its own: the pipeline settled, then the projector paused
        (SIGSTOP), so that the writer is measured without a second service's work on the same cores.
        Events keep going to Kafka; the projector catches up at the next `settle`."""
        self.settle()
        self._signal_projector(pause=True)

    def _signal_projector(self, *, pause: bool) -> None:
        if self.projector is None or self.projector.popen is None or self.paused == pause:
            return
        os.kill(self.projector.pid, signal.SIGSTOP if pause else signal.SIGCONT)
        self.paused = pause

    @property
    def has_projector(self) -> bool:
        return self.projector is not None

    def _outbox_backlog(self) -> int:
        url = f"{self.writer_url}/internal/outbox/stats"
        request = urllib.request.Request(url, headers=self.operator)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return int(json.load(response)["backlog"])

    async def _projector_lag(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> int:
        """Records on the topic that the projector's group has not committed (all of them before its
        first commit)."""
        described = await admin.describe_topics([self.topic])
        partitions = [
            TopicPartition(self.topic, entry["partition"])
            for topic in described
            if topic["topic"] == self.topic
            for entry in topic["partitions"]
        ]
        if not partitions:
            raise RuntimeError(f"no partitions found for {self.topic}")
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(self.group)
        done = {tp: max(0, meta.offset) for tp, meta in committed.items()}
        return sum(end - done.get(tp, 0) for tp, end in ends.items())

    def stop(self) -> None:
        self._signal_projector(pause=False)
        for process in reversed(self.processes):
            process.stop()
