"""What the gateway costs on the write path: POST /api/sales through one or more gateways against the
sales-writer's POST /sales called directly, interleaved round by round in one run, on the bench's
throwaway databases and topics (the bench's own process machinery, ports from BENCH_PORT_BASE).

For each target and round: creates/s in closed loops (e.g. 16 and 64 callers), the gateway's CPU time
per proxied create (user + system, from the process), and p50/p99 in an open loop at a fixed rate.
Medians at the end, with gateway/direct ratios and the p50 the gateway adds.

    set -a; eval "$(python3 deploy/local/stack env)"; set +a
    BENCH_PORT_BASE=38000 uv run python -m bench.scripts.proxy_overhead now=-

A variant `label=DIR` runs the gateway code of another checkout (DIR/services/gateway/src first on
PYTHONPATH), so two commits compare in one run:

    git archive <commit> services/gateway | tar -x -C /tmp/before
    ... proxy_overhead.py --rounds 4 before=/tmp/before now=-

`--profile LABEL` records that gateway with py-spy (100 Hz, `--idle`, raw collapsed stacks) under
the last closed loop after the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from bench.context import Context
from bench.env import Stack
from bench.identity import start_auth
from bench.loadgen import AsyncOp, LoopResult, closed_loop, open_loop
from bench.measure import bodies, run_async, with_creator
from bench.model import Run
from bench.pipeline import Pipeline
from bench.profile import FULL
from bench.services import PORTS, ServiceProcess
from supply_common.processes import PROCESSES
from supply_common.testing.stack import repo_root

DIRECT = "direct"


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def start_gateways(ctx: Context, variants: list[str], auth_url: str, writer_url: str) -> dict[str, ServiceProcess]:
    gateways = {}
    for index, spec in enumerate(variants):
        label, _, checkout = spec.partition("=")
        env: dict[str, str | int] = {}
        if checkout not in ("", "-"):
            env["pythonpath"] = f"{Path(checkout).resolve()}/services/gateway/src"
        gateway = ctx.service(
            f"gateway-{label}",
            PROCESSES["gateway"].argv,
            port=PORTS["gateway"] + 20 + index,
            auth_url=auth_url,
            sales_writer_url=writer_url,
            projector_url=f"http://127.0.0.1:{PORTS['mongo-projector']}",
            rate_user_per_s=1_000_000,
            rate_user_burst=1_000_000,
            **env,
        )
        gateway.start(ctx.sampler, f"gateway {label}").wait_ready()
        ctx.later(gateway.stop)
        gateways[label] = gateway
    return gateways


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per closed or open loop")
    parser.add_argument("--concurrency", default="16,64", help="closed-loop callers, comma-separated")
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop creates/s (0: no open loop)")
    parser.add_argument("--profile", metavar="LABEL", help="py-spy record this gateway after the rounds")
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument("variants", nargs="+", metavar="LABEL=DIR", help="gateways to measure; DIR '-' = this tree")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = repo_root() / "bench" / "results" / f"proxy-{stamp}"
    ctx = Context(
        profile=FULL,
        stack=Stack.from_environment(),
        run_id=stamp.lower().replace("t", "").rstrip("z")[-10:],
        out_dir=out_dir,
        run=Run(started_at=stamp, profile="proxy", settings={}, machine={}),
        console=Console(),
    )
    ctx.sampler.start()
    try:
        accounts = start_auth(ctx)
        pipeline = Pipeline.shared(ctx, "writer")
        gateways = start_gateways(ctx, args.variants, accounts.auth.url, pipeline.writer_url)
        token_headers = {"Authorization": f"Bearer {accounts.token()}"}
        targets = {DIRECT: (f"{pipeline.writer_url}/sales", token_headers)}
        targets.update({label: (f"{gateway.url}/api/sales", token_headers) for label, gateway in gateways.items()})
        processes = {label: psutil.Process(gateway.pid) for label, gateway in gateways.items()}
        payloads = bodies()
        samples: dict[str, dict[str, list[float]]] = {name: {} for name in targets}

        def run(name: str, loop: Callable[[AsyncOp], Awaitable[LoopResult]]) -> LoopResult:
            url, headers = targets[name]
            calls = [0]

            def counted(op: AsyncOp) -> Awaitable[LoopResult]:
                async def call(index: int) -> None:
                    await op(index)
                    calls[0] += 1

                return loop(call)

            process = processes.get(name)
            before = cpu_s(process) if process else 0.0
            result = run_async(lambda: with_creator(url, headers, payloads, counted))
            if process:
                samples[name].setdefault("gateway_cpu_ms", []).append(
                    (cpu_s(process) - before) * 1000 / max(1, calls[0])
                )
            if result.errors:
                print(f"  {name}: {result.errors} errors, first: {result.first_error}", file=sys.stderr)
            return result

        for round_no in range(1, args.rounds + 1):
            for name in targets:
                for concurrency in concurrencies:
                    result = run(name, lambda op, c=concurrency: closed_loop(op, c, args.seconds, 1.0))
                    samples[name].setdefault(f"c{concurrency}", []).append(result.rate)
                if args.rate:
                    result = run(name, lambda op: open_loop(op, args.rate, args.seconds))
                    samples[name].setdefault("p50_ms", []).append(result.latencies.percentile_ms(50))
                    samples[name].setdefault("p99_ms", []).append(result.latencies.percentile_ms(99))
                latest = {key: round(values[-1], 2) for key, values in samples[name].items()}
                print(f"round {round_no} {name}: {json.dumps(latest)}", flush=True)

        print(f"medians of {args.rounds} rounds (load average at the end {os.getloadavg()}):")
        direct = {key: statistics.median(values) for key, values in samples[DIRECT].items()}
        for name, values in samples.items():
            line: dict[str, Any] = {key: round(statistics.median(v), 2) for key, v in values.items()}
            if name != DIRECT:
                for concurrency in concurrencies:
                    line[f"ratio_c{concurrency}"] = round(line[f"c{concurrency}"] / direct[f"c{concurrency}"], 3)
                if args.rate:
                    line["added_p50_ms"] = round(line["p50_ms"] - direct["p50_ms"], 2)
            print(f"  {name}: {json.dumps(line)}")
        ctx.sampler.sample()
        print("peak RSS MB:", json.dumps({name: round(mb, 1) for name, mb in ctx.sampler.peaks_mb.items()}))

        if args.profile:
            out = out_dir / f"py-spy-{args.profile}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            command = [_py_spy(), "record", "--pid", str(gateways[args.profile].pid), "--rate", "100", "--idle"]
            command += ["--duration", str(int(args.profile_seconds)), "--format", "raw", "-o", str(out)]
            spy = subprocess.Popen(command)  # noqa: S603 - a fixed command line
            time.sleep(1.0)
            result = run(args.profile, lambda op: closed_loop(op, concurrencies[-1], args.profile_seconds, 0.0))
            spy.wait(timeout=120)
            print(f"profile of {args.profile} at {result.rate:.1f} creates/s: {out.relative_to(repo_root())}")
    finally:
        try:
            ctx.sampler.stop()
        finally:
            ctx.cleanup()


def _py_spy() -> str:
    """py-spy from the environment this script runs in, whether or not it is on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else (shutil.which("py-spy") or "py-spy")


if __name__ == "__main__":
    main()
