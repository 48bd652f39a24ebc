"""`mongo-projector` command line."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from supply_common.logs import configure_logging
from supply_common.serve import run_app, run_worker
from supply_common.tokens import CredentialFile
from supply_projector.adapters import search_backfill
from supply_projector.adapters.copy_reader import MongoCopy
from supply_projector.adapters.mongo import TOMBSTONES
from supply_projector.adapters.writer_client import WriterClient
from supply_projector.bootstrap import bootstrap
from supply_projector.config import ProjectorSettings
from supply_projector.entrypoints.consumer import consume as consume_loop
from supply_projector.entrypoints.rebuild import rebuild as rebuild_copy
from supply_projector.service_layer import reconcile as drift
from supply_projector.service_layer import rollup_checks

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Supply Store mongo-projector.")


def _settings() -> ProjectorSettings:
    settings = ProjectorSettings()
    configure_logging("mongo-projector", settings.log_level)
    return settings


def _bar(label: str) -> Progress:
    """A progress bar left on screen when done: the label, the bar, how many of how many, the time taken."""
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)


@app.command()
def serve() -> None:
    """Serve the read API (sales, analytics, freshness)."""
    run_app("supply_projector.entrypoints.app:create_app", ProjectorSettings(), "mongo-projector")


@app.command()
def consume() -> None:
    """Apply `sales.events` to the MongoDB copy until SIGTERM (finish the batch, commit, leave)."""
    settings = ProjectorSettings()
    run_worker("mongo-projector", settings, settings.metrics_port, lambda: bootstrap(settings), consume_loop)


@app.command()
def rebuild(
    grace: float = typer.Option(None, help="Seconds to wait after the swap before the last pass."),
) -> None:
    """Replay `sales.events` from offset 0 into a fresh collection and swap it in."""
    settings = _settings()
    with _bar("rebuild") as bar:
        task = bar.add_task("events", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = asyncio.run(rebuild_copy(settings, progress=advance, grace_s=grace))
    typer.echo(
        f"rebuilt {result.documents} sales from {result.events} events into {result.collection} "
        f"(swapped by {result.swapped_by}; previous {result.previous})"
    )


@app.command("backfill-search")
def backfill_search() -> None:
    """Give the documents written by an earlier version this version's search fields, in place, and
    the words lookup every name and tag of the copy (a consumer's first start after an upgrade does
    it too, and `rebuild` by replaying the topic). Safe while the consumers run, and to run again."""
    container = bootstrap(_settings())
    try:
        store = container.store.pinned()
        updated = search_backfill.backfill_search(container.database, store.collection(), store.words())
    finally:
        container.close()
    typer.echo(f"search fields set on {updated or 0} sales; words lookup filled")


@app.command()
def health(max_age: float = typer.Option(60.0, help="Oldest acceptable consumer heartbeat, seconds.")) -> None:
    """Exit 0 if this container is healthy: a fresh consumer heartbeat, else a live read API."""
    settings = ProjectorSettings()
    beat = Path(settings.heartbeat_file)
    if beat.exists():
        raise typer.Exit(0 if time.time() - beat.stat().st_mtime < max_age else 1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/livez", timeout=2):
            raise typer.Exit(0)
    except OSError:
        raise typer.Exit(1) from None


@app.command("purge-tombstones")
def purge_tombstones() -> None:
    """Delete tombstones older than TOMBSTONE_RETENTION_DAYS."""
    settings = ProjectorSettings()
    container = bootstrap(settings)
    try:
        purged = container.store.purge_tombstones(timedelta(days=settings.tombstone_retention_days))
    finally:
        container.close()
    typer.echo(f"purged {purged} tombstones")


def _reconcile_rollups(rollups: rollup_checks.RollupStore, repair: bool, show: int) -> None:
    """The analytics buckets against a recomputation from the copy; `repair` replaces those that differ."""
    found = rollup_checks.check(rollups)
    typer.echo(
        f"rollups: buckets {found.buckets}, differing {len(found.differing)}, changing while checked {found.changing}"
    )
    if found.differing:
        more = f" (+{len(found.differing) - show} more)" if len(found.differing) > show else ""
        typer.echo(f"  differing: {' '.join(list(found.differing)[:show])}{more}")
    if repair and found.differing:
        replaced, moved = rollup_checks.repair(rollups, found)
        typer.echo(f"rollups repair: replaced {replaced}, changed meanwhile (left; run again) {moved}")


def _await_repair(writer: WriterClient, copy: MongoCopy, ids: list[str], wait_s: float) -> None:
    """Wait for the consumers to apply the republished sales; exit 1 (the rollups unchecked) if they
    do not within `wait_s`."""
    if not ids:
        return
    with _bar("repair applied") as bar:
        task = bar.add_task("ids", total=len(ids))
        left = drift.await_applied(writer, copy, ids, timeout_s=wait_s, progress=lambda n: bar.advance(task, n))
    if left:
        more = f" (+{len(left) - 5} more)" if len(left) > 5 else ""
        typer.echo(
            f"rollups not checked: {len(left)} republished sales not applied to the copy after {wait_s:.0f} s "
            f"({' '.join(left[:5])}{more}); is `mongo-projector consume` running? Run reconcile again.",
            err=True,
        )
        raise typer.Exit(1)


RECONCILE_SCOPES = ("sales:digest", "sales:republish")


def _reconcile_credential(settings: ProjectorSettings) -> CredentialFile:
    """The service credential reconcile calls the sales-writer with (SERVICE_TOKEN_FILE; in development
    the one `deploy/local/run up` issued); exits with how to get one when there is none."""
    path = settings.credential_path("reconcile")
    if path is None or not path.is_file():
        scopes = " ".join(f"--scope {scope}" for scope in RECONCILE_SCOPES)
        typer.echo(
            f"reconcile needs a service credential ({path or 'SERVICE_TOKEN_FILE is not set'} not found): "
            f"`auth issue-service-token --subject reconcile {scopes} --out FILE`, then SERVICE_TOKEN_FILE=FILE",
            err=True,
        )
        raise typer.Exit(2)
    return CredentialFile(path)


@app.command()
def reconcile(
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Republish missing, stale, corrupted and ahead sales (ahead ones rewound to MySQL's version first); "
        "delete strays.",
    ),
    writer_url: str = typer.Option("http://127.0.0.1:8002", envvar="SALES_WRITER_URL", help="The sales-writer."),
    show: int = typer.Option(20, help="Ids listed per kind."),
    wait: float = typer.Option(
        120.0,
        help="With --repair: seconds to wait for the consumers to apply the republished sales before "
        "the rollups are checked against the copy.",
    ),
) -> None:
    """Compare the copy with MySQL (the sales-writer's digest) in id order and report the drift; then
    the analytics rollups with a recomputation from the copy (after a repair, once the copy holds
    what was republished: the rollups are checked against the repaired copy)."""
    settings = ProjectorSettings()
    credential = _reconcile_credential(settings)
    container = bootstrap(settings)
    copy = MongoCopy(container.database[container.active.name()], container.database[TOMBSTONES])
    try:
        with WriterClient(writer_url, credential=credential.token) as writer:
            with _bar("reconcile") as bar:
                task = bar.add_task("ids", total=copy.estimated_count() or None)
                findings = drift.reconcile(writer, copy, progress=lambda n: bar.advance(task, n))
                bar.update(task, total=bar.tasks[0].completed)
            typer.echo(
                f"sales {findings.sales}, documents {findings.documents}, differences {findings.total}: "
                + ", ".join(f"{kind} {count}" for kind, count in findings.counts().items())
            )
            for kind in drift.KINDS:
                ids = getattr(findings, kind)
                if ids:
                    more = f" (+{len(ids) - show} more)" if len(ids) > show else ""
                    typer.echo(f"  {kind}: {' '.join(ids[:show])}{more}")
            if repair and findings.total:
                done = drift.repair(writer, copy, findings)
                typer.echo(
                    f"repair: republished {done.republished}, strays deleted {done.strays_deleted}, "
                    f"rewound to MySQL's version {done.rewound}"
                )
                _await_repair(writer, copy, findings.to_republish(), wait)
        _reconcile_rollups(container.store.pinned().rollups(), repair, show)
    finally:
        container.close()
