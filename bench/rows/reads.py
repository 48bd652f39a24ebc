"""Row 10: every read route through the gateway, the same read straight from the store, and each
analytics report as SQL on the MySQL source, at growing copy sizes.

At each size the copy grows (`bench.reads_data`: bulk MySQL rows and events applied by the
projector's consumer), then each route is called by one client, one call at a time: one call to
warm up, then calls until the profile's number of samples or its time budget is reached (a warm-up
call longer than the whole budget is the one sample). A call
that fails ends that route's measurement at that size; its time still counts (a timeout is a slow
answer, not a missing one) and its error is listed in the note. `BENCH_READS_SIZES=5000,100000`
measures other sizes than the profile's.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench import reads_report
from bench.context import Context
from bench.identity import Accounts, start_auth, start_gateway
from bench.model import Row
from bench.reads_data import Copy
from bench.reads_routes import Route, Subject, routes, sql_params
from bench.reads_store import Reads
from bench.services import PORTS, ServiceProcess, require
from bench.stats import Latencies
from supply_common.processes import PROCESSES

ROW_ID = reads_report.ROW_ID
TITLE = "Reads: every read route as the copy grows"
HTTP_TIMEOUT_S = 60.0
STORE_TIMEOUT_S = 60.0
BREAKER_COOLDOWN_S = 5.5
"""The gateway's breaker opens after consecutive failures and stays open 5 s; after a failed call the
next route waits it out, so that it measures itself and not the breaker."""


class Measured:
    def __init__(self) -> None:
        self.latencies = Latencies()
        self.errors = 0
        self.first_error = ""

    def fail(self, seconds: float, exc: BaseException) -> None:
        self.latencies.record_s(seconds)
        self.errors += 1
        self.first_error = f"{type(exc).__name__}: {exc}"[:200]


def measure(call: Callable[[int], object], samples: int, budget_s: float) -> Measured:
    """One call to warm up, then calls until `samples` or `budget_s` (at least one), stopping at a
    failure. A warm-up call that alone takes longer than the budget is the one sample: a read that
    slow is not made slow by a cold connection or cache."""
    result = Measured()
    deadline = 0.0
    for index in range(samples + 1):
        began = time.perf_counter()
        try:
            call(index)
        except Exception as exc:  # noqa: BLE001 - a failed read is measured and reported
            result.fail(time.perf_counter() - began, exc)
            return result
        took = time.perf_counter() - began
        if index == 0 and took <= budget_s:
            deadline = time.perf_counter() + budget_s
            continue
        result.latencies.record_s(took)
        if time.perf_counter() >= deadline:
            break
    return result


class Gateway:
    """GET through the gateway on one keep-alive connection, as one browser or client would."""

    def __init__(self, process: ServiceProcess) -> None:
        assert process.port is not None
        self.port = process.port
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT_S)

    def get(self, path: str, headers: dict[str, str]) -> bytes:
        """The answer's body; an error for any status but 200. A kept-alive connection that the server
        closed meanwhile is opened again once, as browsers do for a GET."""
        for attempt in (1, 2):
            try:
                self.connection.request("GET", path, headers=headers)
                response = self.connection.getresponse()
                body = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt == 2:
                    raise
            except (OSError, http.client.HTTPException):
                self.connection.close()
                raise
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:160].decode(errors='replace')}")
        return body

    def close(self) -> None:
        self.connection.close()


def _account(ctx: Context, worker: Accounts, role: str, email: str) -> Accounts:
    """The account, created once per run: a row run again after a server went away (`run_row`) meets
    the accounts its first attempt made in the run's one auth database."""
    made: dict[str, Accounts] = ctx.shared.setdefault("reads_accounts", {})
    if email not in made:
        password = secrets.token_urlsafe(18)
        ctx.command(
            f"auth-create-{role}",
            "auth",
            ["create-user", "--email", email, "--role", role, "--name", "Bench reader", "--password-stdin"],
            stdin=password + "\n",
            mysql_database=worker.database,
        )
        made[email] = Accounts(worker.auth, worker.database, email, password)
    return made[email]


def sizes(ctx: Context) -> tuple[int, ...]:
    override = os.environ.get("BENCH_READS_SIZES", "").strip()
    if override:
        return tuple(sorted(int(part) for part in override.split(",") if part.strip()))
    return ctx.profile.reads_sizes


def run(ctx: Context) -> Row:
    require("mongo-projector", "serve", "consume")
    row = Row(ROW_ID, TITLE)
    measured_sizes = sizes(ctx)
    copy = Copy.create(ctx, max(measured_sizes))
    worker = start_auth(ctx)
    manager = _account(ctx, worker, "senior_management", f"reads-manager-{ctx.run_id}@example.com")
    projector = ctx.service(
        "reads-projector",
        PROCESSES["mongo-projector"].argv,
        port=PORTS["mongo-projector"],
        auth_jwks_url=worker.jwks_url,
        **copy.projector_env(),
    )
    projector.start(ctx.sampler, "mongo-projector serve").wait_ready()
    gateway_process = start_gateway(ctx, worker, f"http://127.0.0.1:{PORTS['sales-writer']}")
    gateway = Gateway(gateway_process)
    reads = Reads(ctx.stack.mongo_url, copy.mongo_db, STORE_TIMEOUT_S)
    sql = ctx.stack.mysql(copy.sales_db, read_timeout=int(STORE_TIMEOUT_S))
    notes: list[str] = []
    customers: dict[str, Accounts] = {}
    try:
        for size in measured_sizes:
            ctx.step(f"row {ROW_ID}: growing the copy to {size:,} sales")
            loaded_s = copy.grow_to(size)
            email, purchases = copy.customer()
            if email not in customers:  # the same customer may be read about at several sizes
                customers[email] = _account(ctx, worker, "customer", email)
            accounts = {"customer": customers[email], "technical_worker": worker, "senior_management": manager}
            subject = Subject(tuple(copy.sale_ids), email)
            label = f"load of {size:,} sales (bulk, then applied by the consumer)"
            row.figure(f"load_s_{size}", label, "s", False).samples.append(loaded_s)
            notes.append(f"{size:,}: loaded and applied in {loaded_s:.0f} s; the customer has {purchases} purchases")
            began = time.perf_counter()
            for route in routes():
                _measure_route(ctx, row, route, size, subject, gateway, accounts[route.role], reads, sql, notes)
            ctx.say(
                f"row {ROW_ID}: {size:,} sales loaded in {loaded_s:.0f} s, read in {time.perf_counter() - began:.0f} s"
            )
            notes.append(_agreement(sql, reads, size))
    finally:
        gateway.close()
        reads.close()
        sql.close()
    reads_report.summarise(row, measured_sizes)
    errors = [note for note in notes if "failed" in note]
    row.note = (
        "sales written in bulk to MySQL and as sale.created events to a topic that the projector's consumer"
        " applies (the HTTP write path and outbox bypassed); one client, one call at a time; p50/p95/p99 of"
        f" up to {ctx.profile.reads_samples} calls or {ctx.profile.reads_budget_s:g} s per route after one"
        " warm-up call; 'store' is the projector's own query code run in the bench process, 'sql' the same"
        " aggregate on MySQL; " + "; ".join(note for note in notes if "failed" not in note) + _failures(errors)
    )
    return row


def _failures(errors: list[str]) -> str:
    if not errors:
        return ""
    shown = "; ".join(error.split("\n", 1)[0][:160] for error in errors[:20])
    more = f" and {len(errors) - 20} more" if len(errors) > 20 else ""
    return f"; {len(errors)} route(s) failed: {shown}{more}"


def _measure_route(
    ctx: Context,
    row: Row,
    route: Route,
    size: int,
    subject: Subject,
    gateway: Gateway,
    account: Accounts,
    reads: Reads,
    sql: Any,
    notes: list[str],
) -> None:
    profile = ctx.profile
    headers = account.bearer()
    targets: list[tuple[str, Callable[[int], object]]] = [
        ("gateway", lambda n: gateway.get(route.path(subject, n), headers))
    ]
    if route.store is not None:
        store = route.store
        targets.append(("store", lambda n: store(reads, subject, n)))
    if route.sql is not None:
        targets.append(("sql", _sql_call(sql, route.sql, sql_params(route))))
    gateway.close()  # each route starts on a new connection, warmed up by its first call
    for where, call in targets:
        ctx.step(f"row {ROW_ID}: {route.label} at {size:,} ({where})")
        result = measure(call, profile.reads_samples, profile.reads_budget_s)
        reads_report.record(row, route, size, where, result.latencies, result.errors)
        if result.errors:
            notes.append(f"{route.key} at {size:,} ({where}) failed: {result.first_error}")
            if where == "gateway":
                time.sleep(BREAKER_COOLDOWN_S)


def _sql_call(connection: Any, statement: str, params: tuple[object, ...]) -> Callable[[int], object]:
    def call(_: int) -> object:
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall()
        except Exception:
            with contextlib.suppress(Exception):
                connection.ping(reconnect=True)  # a read that timed out leaves the connection closed
            raise
        finally:
            with contextlib.suppress(Exception):
                connection.rollback()  # each call reads the tables as they are now

    return call


def _agreement(sql: Any, reads: Reads, size: int) -> str:
    """Whether the copy and MySQL agree on the number of sales and the revenue (the load's check)."""
    try:
        summary = reads.analytics("summary", None)
        statement = "SELECT COUNT(*), (SELECT SUM(price * quantity) FROM sale_items) FROM sales"
        count, revenue = _sql_call(sql, statement, ())(0)[0]  # type: ignore[index]
    except Exception as exc:  # noqa: BLE001 - reported, the measurements stand
        return f"at {size:,} the copy's summary could not be compared with MySQL ({type(exc).__name__}: {exc})"
    if int(summary["sales"]) == count and Decimal(summary["revenue"]) == Decimal(revenue):
        return f"at {size:,} the copy and MySQL agree ({count:,} sales, revenue {revenue})"
    return f"at {size:,} the copy says {summary['sales']} sales, {summary['revenue']}; MySQL {count}, {revenue}"
