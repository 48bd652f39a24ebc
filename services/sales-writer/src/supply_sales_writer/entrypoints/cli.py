"""`sales-writer` command line: serve, migrate, relay, import, generate."""

from __future__ import annotations

import functools
import random
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from supply_common.logs import configure_logging
from supply_common.serve import run_app, run_worker
from supply_sales_writer.config import SalesWriterSettings
from supply_sales_writer.domain.model import OnExisting

# The commands import what they use: `serve` with several workers leaves this process as the
# supervisor, which serves nothing and should not hold the database, Kafka and domain modules.

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Supply Store sales-writer."
)
console = Console(stderr=True)


@app.command()
def serve() -> None:
    """Serve the HTTP API (with the outbox relay inside unless RELAY_ENABLED=false)."""
    run_app("supply_sales_writer.entrypoints.app:create_app", SalesWriterSettings(), "sales-writer")


@app.command()
def migrate(
    create: Annotated[bool, typer.Option(help="Create the database first if it is missing.")] = True,
) -> None:
    """Bring the `sales` schema to the latest revision."""
    from supply_sales_writer.adapters.migrate import create_database, upgrade
    from supply_sales_writer.bootstrap import make_sales_engine

    settings = SalesWriterSettings()
    configure_logging("sales-writer", settings.log_level)
    if create:
        create_database(settings.database_url())
    engine = make_sales_engine(settings)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    console.print(f"schema of [bold]{settings.mysql_database}[/] is up to date")


@app.command()
def relay(
    topics: Annotated[bool, typer.Option(help="Create the Kafka topics if missing.")] = True,
) -> None:
    """Run the outbox relay alone, until SIGTERM or Ctrl-C; with RELAY_WAKE_ADDRESS it also listens
    there for the commit notices of the serving processes."""
    from supply_sales_writer.bootstrap import bootstrap
    from supply_sales_writer.entrypoints.relay import run_relay

    settings = SalesWriterSettings()
    run_worker(
        "sales-writer",
        settings,
        settings.relay_metrics_port,
        lambda: bootstrap(settings),
        functools.partial(run_relay, create_topics=topics),
        log_as="sales-writer-relay",
    )


def _chunks(path: Path, progress: Progress, task: int) -> object:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            progress.advance(task, len(chunk))  # type: ignore[arg-type]
            yield chunk


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="mongoexport output (array or lines).")],
    batch: Annotated[int, typer.Option(help="Records per transaction.")] = 0,
    show_errors: Annotated[int, typer.Option(help="How many rejected records to list.")] = 20,
    on_existing: Annotated[
        OnExisting,
        typer.Option(help="A record whose sale holds other content: fail (reject it), skip (keep it), overwrite."),
    ] = "fail",
) -> None:
    """Import a dataset file, keeping each sale's `_id`. Re-importing the same file changes nothing;
    an existing sale with other content is kept unless --on-existing overwrite."""
    from supply_sales_writer.bootstrap import bootstrap
    from supply_sales_writer.domain.importing import read_all

    settings = SalesWriterSettings()
    configure_logging("sales-writer", "WARNING")
    system = bootstrap(settings)
    importer = system.service.importer(batch_size=batch or settings.import_batch_size, on_existing=on_existing)
    columns = (TextColumn("importing"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("import", total=file.stat().st_size)
            importer.feed(read_all(_chunks(file, progress, task)))  # type: ignore[arg-type]
            result = importer.finish()
    finally:
        system.engine.dispose()
    for error in result.errors[:show_errors]:
        console.print(f"[red]rejected[/] line {error['line']}: {error['reason']}")
    typer.echo(
        f"created {result.created}, updated {result.updated}, unchanged {result.unchanged},"
        f" rejected {result.rejected}, skipped {result.skipped}"
    )


@app.command()
def generate(
    count: Annotated[int, typer.Argument(min=0, help="How many sales.")],
    out: Annotated[Path | None, typer.Option(help="File to write (default: standard output).")] = None,
    seed: Annotated[int | None, typer.Option(help="Same seed, same file.")] = None,
) -> None:
    """Write synthetic sales as mongoexport JSON lines, following the dataset's distributions."""
    from supply_common.testing.dataset import lines

    target = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        for line in lines(count, random.randrange(2**32) if seed is None else seed):
            target.write(line + "\n")
    finally:
        if out:
            target.close()
