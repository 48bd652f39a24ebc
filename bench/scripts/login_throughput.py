"""Measure the time of one password hash and login throughput (logins/s).

In-process (default): wires the service with `bootstrap` against a throwaway database on the
MariaDB/MySQL server at MYSQL_URL, creates one account, and logs in from N threads for D seconds.

    set -a; eval "$(python3 deploy/local/stack env)"; set +a
    uv run python -m bench.scripts.login_throughput --threads 4 --seconds 10

Against a running auth (HTTP), with an existing account:

    uv run python -m bench.scripts.login_throughput --url http://127.0.0.1:8001 \
        --email cauho@witwuta.sv --password demo-customer-paper-lantern --threads 4 --pid <auth pid>

With `--pid` (Linux), it also prints that process's resident memory and its peak (`VmHWM`) after the run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

from supply_auth.adapters import migrate
from supply_auth.adapters.hashing import Argon2Parameters, PasswordHasher
from supply_auth.bootstrap import bootstrap
from supply_auth.config import AuthSettings

BENCH_EMAIL = "bench@example.com"
BENCH_PASSWORD = secrets.token_urlsafe(18)


def hash_time(settings: AuthSettings, rounds: int = 20) -> float:
    hasher = PasswordHasher(
        Argon2Parameters(
            settings.auth_argon2_memory_kib, settings.auth_argon2_time_cost, settings.auth_argon2_parallelism
        )
    )
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        hasher.hash(BENCH_PASSWORD)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(login: Callable[[], None], threads: int, seconds: float) -> tuple[int, list[float], float]:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            login()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return len(latencies), latencies, time.perf_counter() - started


def report(label: str, count: int, latencies: list[float], elapsed: float, threads: int) -> None:
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else 0.0
    print(
        f"{label}: {count / elapsed:.1f} logins/s with {threads} threads over {elapsed:.1f} s "
        f"({count} logins; latency p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms)"
    )


def in_process(args: argparse.Namespace) -> None:
    base = AuthSettings(_env_file=None, environment="test")  # type: ignore[call-arg]
    database = f"test_authbench_{secrets.token_hex(4)}"
    server = sa.create_engine(base.mysql_url.get_secret_value() + "/?charset=utf8mb4")
    with server.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    try:
        with tempfile.TemporaryDirectory() as keys:
            settings = base.model_copy(
                update={"mysql_database": database, "auth_keys_dir": Path(keys), "auth_mail_dir": Path(keys) / "mail"}
            )
            auth = bootstrap(settings, require_keys=False)
            auth.keys.rotate()
            migrate.upgrade(auth.engine)
            auth.accounts.create_account(email=BENCH_EMAIL, password=BENCH_PASSWORD, name="Bench", role="customer")

            def login() -> None:
                auth.sessions.login(email=BENCH_EMAIL, password=BENCH_PASSWORD, client="127.0.0.1")

            login()
            count, latencies, elapsed = run(login, args.threads, args.seconds)
            report("in-process (service layer + MariaDB)", count, latencies, elapsed, args.threads)
            auth.close()
    finally:
        with server.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
        server.dispose()


def memory(pid: int) -> str:
    """Resident and peak resident memory of a process, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return f"pid {pid}: RSS {fields['VmRSS']:.1f} MiB, peak RSS {fields['VmHWM']:.1f} MiB"


def over_http(args: argparse.Namespace) -> None:
    local = threading.local()

    def login() -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=args.url, timeout=30)
        response = local.client.post("/login", json={"email": args.email, "password": args.password})
        if response.status_code != 200:
            sys.exit(f"login failed: {response.status_code} {response.text[:200]}")

    login()
    count, latencies, elapsed = run(login, args.threads, args.seconds)
    report(f"HTTP {args.url}", count, latencies, elapsed, args.threads)
    if args.pid:
        print(memory(args.pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", help="a running auth service; default: in-process")
    parser.add_argument("--email")
    parser.add_argument("--password")
    parser.add_argument("--pid", type=int, help="with --url: the auth process whose memory to report")
    args = parser.parse_args()
    settings = AuthSettings(_env_file=None)  # type: ignore[call-arg]
    print(f"CPUs: {os.cpu_count()}")
    print(
        f"argon2id m={settings.auth_argon2_memory_kib} KiB, t={settings.auth_argon2_time_cost}, "
        f"p={settings.auth_argon2_parallelism}: one hash {hash_time(settings) * 1000:.1f} ms (median of 20)"
    )
    if args.url:
        if not (args.email and args.password):
            parser.error("--url needs --email and --password")
        over_http(args)
    else:
        in_process(args)


if __name__ == "__main__":
    main()
