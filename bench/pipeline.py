"""Our write pipeline as processes of the bench: sales-writer (relay inside), projector consumer, and
optionally the projector's read API, auth and gateway; each on throwaway databases and topics."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bench.context import Context
from bench.schema import sales_database
from bench.services import PORTS, ServiceProcess, require

WRITER_WORKERS = int(os.environ.get("BENCH_WRITER_WORKERS", min(os.cpu_count() or 1, 4)))
"""Server processes of the sales-writer: one per core as `make run` starts it (deploy/local/run);
BENCH_WRITER_WORKERS=1 measures a single process."""


@dataclass
class Pipeline:
    ctx: Context
    suffix: str
    sales_db: str
    topic: str
    dlq: str
    mongo_db: str
    processes: list[ServiceProcess] = field(default_factory=list)

    @classmethod
    def start(cls, ctx: Context, suffix: str, projector: bool = True) -> Pipeline:
        require("sales-writer", "serve", "migrate")
        if projector:
            require("mongo-projector", "consume")
        ctx.step(f"starting the pipeline ({suffix})")
        pipeline = cls(
            ctx,
            suffix,
            sales_db=sales_database(ctx, suffix),
            topic=ctx.topic(f"{suffix}.events", compact=True),
            dlq=ctx.topic(f"{suffix}.dlq", partitions=1),
            mongo_db=ctx.mongo_database(suffix),
        )
        writer = ctx.service(
            f"sales-writer-{suffix}",
            "sales-writer",
            ["serve"],
            port=PORTS["sales-writer"],
            workers=WRITER_WORKERS,
            mysql_database=pipeline.sales_db,
            sales_topic=pipeline.topic,
            dlq_topic=pipeline.dlq,
        )
        pipeline.processes.append(writer.start(ctx.sampler, "sales-writer serve"))
        if projector:
            consumer = ctx.service(
                f"projector-consume-{suffix}",
                "mongo-projector",
                ["consume"],
                **pipeline.projector_env(),
            )
            pipeline.processes.append(consumer.start(ctx.sampler, "mongo-projector consume"))
        writer.wait_ready()
        for process in pipeline.processes:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited: {process.tail()}")
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
        return {
            "mongo_database": self.mongo_db,
            "sales_topic": self.topic,
            "dlq_topic": self.dlq,
            "consumer_group": f"bench-{self.ctx.run_id}-{self.suffix}",
            "metrics_port": 0,
        }

    @property
    def writer_url(self) -> str:
        return f"http://127.0.0.1:{PORTS['sales-writer']}"

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
