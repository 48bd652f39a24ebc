"""Row 11: POST /api/sales through the gateway with tracing off, then on with the documented default
sampler (`parentbased_traceidratio` at `tracing.DEFAULT_RATIO`: what operators run), then on with every
trace recorded (`parentbased_always_on`), every process exporting its spans over OTLP/HTTP to a
receiver in a process of its own (as a collector would be); each phase on a pipeline of its own:
creates/s at each concurrency and latency at fractions of the untraced maximum, and the CPU the
service processes spent per sale created in the phase (from the first create until the projector
has applied the last: what tracing costs, read from the processes themselves, so that it holds on a
loaded machine where rates swing). The verdict is the default's; always-on is reported beside it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence

import psutil

from bench import measure
from bench.context import Context
from bench.identity import Accounts, start_auth, start_gateway
from bench.model import Row
from bench.pipeline import Pipeline
from bench.services import ServiceProcess
from supply_common import tracing

ROW_ID = "11"
TITLE = "Tracing: POST /api/sales with traces exported vs off"

PHASES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("untraced", "", {}),
    ("traced", "traced_", {tracing.SAMPLER_ENV: "", tracing.SAMPLER_ARG_ENV: ""}),
    ("always-on", "always_", {tracing.SAMPLER_ENV: "parentbased_always_on", tracing.SAMPLER_ARG_ENV: ""}),
)
"""(series, prefix of its figures, environment of its processes besides the endpoint)."""

_RECEIVER = """
import sys
from supply_common.testing.otlp import OtlpReceiver
with OtlpReceiver() as receiver:
    print(receiver.endpoint, flush=True)
    for _ in sys.stdin:
        print(len(receiver.snapshot()), flush=True)
"""


@contextlib.contextmanager
def _receiver() -> Iterator[tuple[str, Callable[[], int]]]:
    """An OTLP/HTTP receiver in a process of its own (decoding spans costs CPU, which a collector spends
    elsewhere, not in the load generator): its endpoint and a function that counts the spans received."""
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", _RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    def received() -> int:
        stdin.write("\n")
        stdin.flush()
        return int(stdout.readline())

    try:
        yield stdout.readline().strip(), received
    finally:
        stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Values the processes started inside take from the environment (`Context.service_env`)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _cpu_s(processes: Sequence[ServiceProcess]) -> dict[str, float]:
    """User and system CPU seconds of each process with its children so far, by process name."""
    spent: dict[str, float] = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(process.pid)
            for member in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    times = member.cpu_times()
                    spent[process.name] = spent.get(process.name, 0.0) + times.user + times.system
    return spent


def _sales(ctx: Context, pipeline: Pipeline) -> int:
    connection = ctx.stack.mysql(pipeline.sales_db)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM sales")
            (count,) = cursor.fetchone()
            return int(count)
    finally:
        connection.close()


def _added_p50(row: Row, prefix: str) -> float | None:
    untraced, traced = row.get("p50_at_50"), row.get(f"{prefix}p50_at_50")
    if untraced and traced and untraced.spread and traced.spread:
        return traced.spread.median - untraced.spread.median
    return None


def _phase(ctx: Context, row: Row, accounts: Accounts, series: str, prefix: str, maxima: dict[str, float]) -> None:
    """One phase on a pipeline of its own, started with the environment of the moment."""
    pipeline = Pipeline.start(ctx, series.replace("-", ""))
    gateway = start_gateway(ctx, accounts, pipeline.writer_url)
    try:
        payloads = measure.bodies()
        target = measure.Target(
            series, f"{gateway.url}/api/sales", accounts.bearer, prefix=prefix, prepare=pipeline.alone
        )
        processes = [gateway, *pipeline.processes]
        pipeline.settle()
        sales, spent = _sales(ctx, pipeline), _cpu_s(processes)
        maxima.update(measure.max_rates(ctx, row, [target], payloads))
        measure.latency_curve(ctx, row, [target], payloads, maxima["untraced"])
        pipeline.settle()
        created, now = max(1, _sales(ctx, pipeline) - sales), _cpu_s(processes)
        per_sale = {name: 1000 * (now[name] - spent.get(name, 0.0)) / created for name in now}
        label = f"service CPU per sale, all processes ({series})"
        row.figure(f"{prefix}cpu_ms", label, "ms", False).samples.append(sum(per_sale.values()))
        for process in processes:
            kind = process.name.removesuffix(f"-{pipeline.suffix}")
            row.figure(f"{prefix}cpu_ms_{kind}", f"CPU per sale, {kind} ({series})", "ms", False).samples.append(
                per_sale.get(process.name, 0.0)
            )
    finally:
        gateway.stop()
        pipeline.stop()


def _verdict(row: Row, series: str, prefix: str, maxima: dict[str, float]) -> tuple[bool, str]:
    """Whether a traced phase meets the target against the untraced one, and its numbers as text."""
    ratio = maxima[series] / maxima["untraced"] if maxima["untraced"] else 0.0
    added = _added_p50(row, prefix)
    text = f"max {ratio:.2f}x of untraced, p50 at 50% " + ("not measured" if added is None else f"{added:+.2f} ms")
    untraced_cpu, traced_cpu = row.get("cpu_ms"), row.get(f"{prefix}cpu_ms")
    if untraced_cpu and traced_cpu and untraced_cpu.spread and traced_cpu.spread and untraced_cpu.spread.median:
        text += f", service CPU per sale {traced_cpu.spread.median / untraced_cpu.spread.median:.2f}x"
    return added is not None and ratio >= 0.9 and added <= 1.0, text


def run(ctx: Context) -> Row:
    row = Row(ROW_ID, TITLE)
    for other in ctx.shared.pop("pipelines", {}).values():  # they hold the ports the phases use
        other.stop()
    accounts = start_auth(ctx)
    maxima: dict[str, float] = {}
    with _receiver() as (endpoint, received):
        for series, prefix, env in PHASES:
            before = received()
            with _environment(**(env | {tracing.ENDPOINT_ENV: endpoint} if prefix else env)):
                _phase(ctx, row, accounts, series, prefix, maxima)
            if prefix:
                row.figure(f"{prefix}spans", f"spans received ({series})", "spans").samples.append(received() - before)
    meets, default = _verdict(row, "traced", "traced_", maxima)
    _, always = _verdict(row, "always-on", "always_", maxima)
    row.note = (
        f"{'meets' if meets else 'misses'} the target (>= 0.9x, <= +1 ms) with the default sampler"
        f" (parentbased_traceidratio {tracing.DEFAULT_RATIO:g}): {default}; every trace recorded: {always};"
        " through the gateway, the relay and the projector consumer each in its own process, all exporting to"
        " an OTLP/HTTP receiver in a process of its own; the phases run one after the other on pipelines of"
        " their own (projector paused while measured), latency at fractions of the untraced maximum"
    )
    return row
