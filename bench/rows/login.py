"""Row 8: the cost of one argon2id hash with the auth service's own hasher, and logins/s against auth."""

from __future__ import annotations

import importlib
import json
import statistics
import time

from bench import http
from bench.context import Context
from bench.identity import start_auth
from bench.loadgen import closed_loop
from bench.measure import run_async
from bench.model import Row
from bench.services import ServiceMissing

LOGIN_CONCURRENCY = 4


def run(ctx: Context) -> Row:
    row = Row("8", "Login: argon2id")
    try:
        hashing = importlib.import_module("supply_auth.adapters.hashing")
        config = importlib.import_module("supply_auth.config")
    except ImportError as exc:
        raise ServiceMissing("auth password hasher") from exc
    settings = config.AuthSettings()
    parameters = hashing.Argon2Parameters(
        settings.auth_argon2_memory_kib, settings.auth_argon2_time_cost, settings.auth_argon2_parallelism
    )
    hasher = hashing.PasswordHasher(parameters)
    stored = hasher.hash("correct horse battery staple")
    for rep in range(ctx.profile.reps_service):
        ctx.step(f"row 8: argon2id verify, rep {rep + 1}/{ctx.profile.reps_service}")
        costs = []
        for _ in range(ctx.profile.hashes):
            started = time.perf_counter()
            hasher.verify("correct horse battery staple", stored)
            costs.append((time.perf_counter() - started) * 1000)
        row.figure("hash_ms", "argon2id verify, per login", "ms", False).samples.append(statistics.median(costs))
    accounts = start_auth(ctx)
    body = json.dumps({"email": accounts.email, "password": accounts.password}).encode()

    async def login_loop() -> object:
        async with http.session() as client:

            async def login(_: int) -> None:
                async with client.post(
                    f"{accounts.auth.url}/login", data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    text = await response.read()
                    if response.status != 200:
                        raise http.HttpStatusError(response.status, text.decode(errors="replace"))

            return await closed_loop(login, LOGIN_CONCURRENCY, ctx.profile.duration_s, ctx.profile.warmup_s)

    for rep in range(ctx.profile.reps_service):
        ctx.step(f"row 8: logins against auth, rep {rep + 1}/{ctx.profile.reps_service}")
        result = run_async(login_loop)  # type: ignore[arg-type]
        if result.completed == 0:
            raise RuntimeError(f"no login succeeded ({result.first_error})")
        row.figure("logins_s", f"logins/s, concurrency {LOGIN_CONCURRENCY}", "logins/s").samples.append(result.rate)
        row.figure("login_p50", "login p50", "ms", False).samples.append(result.latencies.percentile_ms(50))
    row.note = (
        f"argon2id m={parameters.memory_kib} KiB, t={parameters.time_cost}, p={parameters.parallelism};"
        f" {ctx.profile.hashes} verifies per repetition"
    )
    return row
