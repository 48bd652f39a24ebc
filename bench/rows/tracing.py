"""Row 11: POST /api/sales through the gateway with tracing off, then on with the documented default
sampler (`parentbased_ratelimiting` at `tracing.DEFAULT_TRACES_PER_S` new traces a second per process:
what operators run), on with one new trace in ten (`parentbased_traceidratio` 0.1: a fixed ratio,
whose cost grows with the traffic) and on with every trace recorded (`parentbased_always_on`), every
process exporting its spans over OTLP/HTTP to a receiver in a process of its own (as a collector
would be). Each series has a pipeline and a gateway of its own, the four running side by side and
measured in turns (so that a cold start and the machine's drift weigh on each alike): creates/s at
each concurrency and latency at fractions of the untraced maximum, and the CPU each series'
processes spent per sale created (from the first create until the projector has applied the last:
what tracing costs, read from the processes themselves, so that it holds on a loaded machine where
rates swing). The verdict is the default's; the ratio and always-on are reported beside it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import psutil

from bench import measure
from bench.context import Context
from bench.identity import Accounts, start_auth, start_gateway
from bench.model import Row
from bench.pipeline import Pipeline
from bench.services import ServiceProcess, ports
from supply_common import tracing

ROW_ID = "11"
TITLE = "Tracing: POST /api/sales with traces exported vs off"

RATIO = 0.1
"""The fixed ratio measured beside the default."""
LATENCY_TURNS_AT_HALF = 3
"""The added p50 at half load, which the verdict reads, is a difference of two medians of a few
milliseconds that swing by more than the target from one turn to the next: it is measured in three
times the profile's turns."""
PHASES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("untraced", "", {}),
    ("traced", "traced_", {tracing.SAMPLER_ENV: "", tracing.SAMPLER_ARG_ENV: ""}),
    ("ratio", "ratio_", {tracing.SAMPLER_ENV: "parentbased_traceidratio", tracing.SAMPLER_ARG_ENV: str(RATIO)}),
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


@dataclass
class _Phase:
    """One series: its pipeline and gateway, started with the series' environment, and what its
    processes had spent when the measurements began."""

    series: str
    prefix: str
    pipeline: Pipeline
    gateway: ServiceProcess
    sales: int = 0
    spent: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, ctx: Context, accounts: Accounts, index: int, series: str, prefix: str) -> _Phase:
        """The series' pipeline and gateway on the `index`-th set of ports, with the environment of the moment."""
        suffix = series.replace("-", "")
        pipeline = Pipeline.start(ctx, suffix, ports=ports(index))
        try:
            gateway = start_gateway(ctx, accounts, pipeline.writer_url, pipeline.ports, f"gateway-{suffix}")
        except BaseException:
            pipeline.stop()
            raise
        return cls(series, prefix, pipeline, gateway)

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.gateway, *self.pipeline.processes]

    def target(self) -> measure.Target:
        url = f"{self.gateway.url}/api/sales"
        return measure.Target(
            self.series, url, self.pipeline.accounts.bearer, prefix=self.prefix, prepare=self.pipeline.alone
        )

    def begin(self, ctx: Context) -> None:
        """Settle the pipeline, then note its sales and its processes' CPU."""
        self.pipeline.settle()
        self.sales, self.spent = _sales(ctx, self.pipeline), _cpu_s(self.processes)

    def end(self, ctx: Context, row: Row) -> None:
        """Settle the pipeline (the copy has every sale), then record the CPU its processes spent per sale."""
        self.pipeline.settle()
        created, now = max(1, _sales(ctx, self.pipeline) - self.sales), _cpu_s(self.processes)
        per_sale = {name: 1000 * (now[name] - self.spent.get(name, 0.0)) / created for name in now}
        label = f"service CPU per sale, all processes ({self.series})"
        row.figure(f"{self.prefix}cpu_ms", label, "ms", False).samples.append(sum(per_sale.values()))
        for process in self.processes:
            kind = process.name.removesuffix(f"-{self.pipeline.suffix}")
            figure = row.figure(f"{self.prefix}cpu_ms_{kind}", f"CPU per sale, {kind} ({self.series})", "ms", False)
            figure.samples.append(per_sale.get(process.name, 0.0))

    def stop(self) -> None:
        self.gateway.stop()
        self.pipeline.stop()


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
    for other in ctx.shared.pop("pipelines", {}).values():  # they hold the ports of the first set
        other.stop()
    accounts = start_auth(ctx)
    phases: list[_Phase] = []
    with _receiver() as (endpoint, received):
        try:
            for index, (series, prefix, env) in enumerate(PHASES):
                with _environment(**(env | {tracing.ENDPOINT_ENV: endpoint} if prefix else env)):
                    phases.append(_Phase.start(ctx, accounts, index, series, prefix))
            payloads, targets = measure.bodies(), [phase.target() for phase in phases]
            for phase in phases:
                phase.begin(ctx)
            spans = received()
            maxima = measure.max_rates(ctx, row, targets, payloads)
            measure.latency_curve(ctx, row, targets, payloads, maxima["untraced"], more_at={0.5: LATENCY_TURNS_AT_HALF})
            for phase in phases:
                phase.end(ctx, row)
            row.figure("spans", "spans received (every traced series)", "spans").samples.append(received() - spans)
        finally:
            for phase in phases:
                phase.stop()
    meets, default = _verdict(row, "traced", "traced_", maxima)
    _, ratio = _verdict(row, "ratio", "ratio_", maxima)
    _, always = _verdict(row, "always-on", "always_", maxima)
    row.note = (
        f"{'meets' if meets else 'misses'} the target (>= 0.9x, <= +1 ms) with the default sampler"
        f" ({tracing.RATE_LIMITING} {tracing.DEFAULT_TRACES_PER_S:g}/s): {default};"
        f" one new trace in {1 / RATIO:g} (parentbased_traceidratio): {ratio}; every trace recorded: {always};"
        " through the gateway, the relay and the projector consumer each in its own process, all exporting to"
        " an OTLP/HTTP receiver in a process of its own; four pipelines side by side, measured in turns"
        " (projector paused while measured), latency at fractions of the untraced maximum"
    )
    return row
