"""`python -m bench [--quick] [--record] [--only 1,4b]`: run the rows, print the table, write JSON and charts."""

from __future__ import annotations

import argparse
import logging
import signal
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console

from bench import ratios, record, report
from bench.context import Context
from bench.env import Stack, machine_facts
from bench.model import Row, Run
from bench.profile import FULL, QUICK
from bench.rows import (
    freshness,
    gateway,
    login,
    memory,
    naive,
    projector,
    raw_kafka,
    raw_mongo,
    raw_mysql,
    reads,
    relay,
    tracing,
    writer,
)
from bench.services import ServiceMissing
from supply_common.testing.stack import repo_root, stack_command

RowRunner = Callable[[Context], Row]
ROWS: list[tuple[str, str, RowRunner]] = [
    ("1", "Raw MySQL: sale + outbox transaction (PyMySQL)", raw_mysql.run),
    ("4b", "Raw aiokafka produce (idempotent, acks=all)", raw_kafka.run),
    ("5b", "Raw MongoDB bulk writes (unordered)", raw_mongo.run),
    ("2", "sales-writer direct: POST /sales", writer.run),
    ("3", "Through the gateway: POST /api/sales with a token", gateway.run),
    ("6", "Freshness: commit to visible in MongoDB", freshness.run),
    ("7", "Naive dual write vs our pipeline", naive.run),
    ("4", "Relay: drain of a pre-filled outbox", relay.run),
    ("5", "Projector: catch-up over a backlog", projector.run),
    ("8", "Login: argon2id", login.run),
    ("9", "Memory: peak RSS per service process", memory.run),
    (reads.ROW_ID, reads.TITLE, reads.run),
    (tracing.ROW_ID, tracing.TITLE, tracing.run),
]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repetitions (under 3 minutes)")
    parser.add_argument(
        "--record", action="store_true", help="record the run in docs/ (its JSON in docs/runs/, a line in the history)"
    )
    parser.add_argument("--only", default="", help="comma-separated row ids, e.g. 1,4b,5b")
    parser.add_argument("--reps", type=int, default=0, help="override the number of repetitions")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    logging.basicConfig(level=logging.WARNING)
    console = Console(width=None if Console().is_terminal else 180)
    profile = QUICK if args.quick else FULL
    if args.reps:
        reps = {"reps": args.reps, "reps_service": args.reps, "reps_projector": args.reps}
        profile = type(profile)(**{**profile.to_json(), **reps})
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    results = repo_root() / "bench" / "results"
    stack = Stack.from_environment()
    run = Run(
        started_at=started.isoformat(timespec="seconds"),
        profile=profile.name,
        settings=profile.to_json(),
        machine=machine_facts(stack),
    )
    ctx = Context(
        profile=profile,
        stack=stack,
        run_id=stamp.lower().replace("t", "").rstrip("z")[-10:],
        out_dir=results / stamp,
        run=run,
        console=console,
    )
    wanted = {part.strip() for part in args.only.split(",") if part.strip()}
    selected = [entry for entry in ROWS if not wanted or entry[0] in wanted]
    failed = False
    clock = time.perf_counter()
    ctx.sampler.start()
    try:
        with ctx.progress(len(selected)) as advance:
            for row_id, title, runner in selected:
                advance_title = f"row {row_id}: {title}"
                ctx.step(advance_title)
                row_started = time.perf_counter()
                try:
                    row = run_row(ctx, runner)
                except ServiceMissing as missing:
                    row = Row(row_id, title, status="n/a", note=f"n/a (service missing: {missing})")
                except Exception as exc:  # noqa: BLE001 - one broken row must not hide the others
                    failed = True
                    row = Row(row_id, title, status="error", note=f"error: {type(exc).__name__}: {exc}"[:400])
                    (ctx.out_dir / "logs").mkdir(parents=True, exist_ok=True)
                    (ctx.out_dir / "logs" / f"row-{row_id}-error.txt").write_text(traceback.format_exc())
                run.rows.append(row)
                console.log(f"row {row_id} ({time.perf_counter() - row_started:.0f} s): {row.status} {row.note}")
                advance(advance_title)
    except KeyboardInterrupt:
        failed = True
        console.print("[red]interrupted: writing what was measured so far")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second signal must not leave processes behind
            signal.signal(signum, signal.SIG_IGN)
        ctx.sampler.stop()
        ctx.cleanup()
    run.elapsed_s = time.perf_counter() - clock
    run.ratios = ratios.compute(run)
    json_path = results / f"{stamp}.json"
    run.write(json_path)
    written = report.charts(run, json_path.with_suffix(""))
    report.print_tables(console, run)
    console.print(f"results: {json_path.relative_to(repo_root())}")
    for path in written:
        console.print(f"chart:   {path.relative_to(repo_root())}")
    if args.record:
        for path in record.record(run, repo_root() / "docs"):
            console.print(f"recorded: {path.relative_to(repo_root())}")
    return 1 if failed else 0


def run_row(ctx: Context, runner: RowRunner) -> Row:
    """Run a row; if it fails on a server that went away (other suites on a shared stack stop and restart
    servers), wait for the stack to answer and run the row once more, saying so in its note."""
    try:
        return runner(ctx)
    except ServiceMissing:
        raise
    except Exception as exc:  # noqa: BLE001 - retried once, then reported
        first = f"{type(exc).__name__}: {exc}"[:160]
    ctx.say(f"retrying after: {first}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = stack_command("status", check=False, capture=True).stdout
        if status.count("answering yes") >= 3:
            break
        time.sleep(2)
    row = runner(ctx)
    row.note = f"{row.note}; retried once after: {first}".lstrip("; ")
    return row
