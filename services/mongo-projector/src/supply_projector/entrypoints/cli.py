"""`mongo-projector` command line."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from supply_common.logs import configure_logging
from supply_common.serve import run_app
from supply_projector.bootstrap import bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.entrypoints.consumer import consume as consume_loop
from supply_projector.service_layer.rebuild import rebuild as rebuild_copy

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Supply Store mongo-projector.")


@app.command()
def serve() -> None:
    """Serve the read API (sales, analytics, freshness)."""
    run_app("supply_projector.entrypoints.app:build_app", ProjectorSettings(), "mongo-projector")


@app.command()
def consume() -> None:
    """Apply `sales.events` to the MongoDB copy until SIGTERM (finish the batch, commit, leave)."""
    settings = ProjectorSettings()
    configure_logging("mongo-projector", settings.log_level)
    projection = bootstrap(settings)
    try:
        asyncio.run(consume_loop(projection))
    finally:
        projection.close()


@app.command()
def rebuild(
    grace: float = typer.Option(None, help="Seconds to wait after the swap before the last pass."),
) -> None:
    """Replay `sales.events` from offset 0 into a fresh collection and swap it in."""
    settings = ProjectorSettings()
    configure_logging("mongo-projector", settings.log_level)
    with Progress(
        TextColumn("rebuild"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    ) as bar:
        task = bar.add_task("events", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = asyncio.run(rebuild_copy(settings, progress=advance, grace_s=grace))
    typer.echo(
        f"rebuilt {result.documents} sales from {result.events} events into {result.collection} "
        f"(swapped by {result.swapped_by}; previous {result.previous})"
    )


@app.command("purge-tombstones")
def purge_tombstones() -> None:
    """Delete tombstones older than TOMBSTONE_RETENTION_DAYS."""
    settings = ProjectorSettings()
    projection = bootstrap(settings)
    try:
        purged = projection.store.purge_tombstones(timedelta(days=settings.tombstone_retention_days))
    finally:
        projection.close()
    typer.echo(f"purged {purged} tombstones")
