"""Auth and gateway processes for the bench, with a technical worker account in a throwaway database."""

from __future__ import annotations

import json
import os
import secrets
import urllib.request
from dataclasses import dataclass

from bench.context import Context
from bench.services import PORTS, ServiceProcess, require


@dataclass
class Accounts:
    auth: ServiceProcess
    database: str
    email: str
    password: str

    def token(self) -> str:
        body = json.dumps({"email": self.email, "password": self.password}).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback
            self.auth.url("/login"), data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return str(json.loads(response.read())["access_token"])


def start_auth(ctx: Context) -> Accounts:
    require("auth", "serve", "migrate", "create-user")
    if "accounts" in ctx.shared:
        return ctx.shared["accounts"]  # type: ignore[no-any-return]
    database = ctx.mysql_database("auth")
    ctx.step("starting auth")
    ctx.command("auth-migrate", "auth", ["migrate"], mysql_database=database)
    email, password = f"bench-{ctx.run_id}@example.com", secrets.token_urlsafe(18)
    ctx.command(
        "auth-create-user",
        "auth",
        ["create-user", "--email", email, "--role", "technical_worker", "--name", "Bench", "--password-stdin"],
        stdin=password + "\n",
        mysql_database=database,
    )
    auth = ctx.service("auth", "auth", ["serve"], port=PORTS["auth"], mysql_database=database)
    auth.start(ctx.sampler, "auth").wait_ready()
    accounts = Accounts(auth, database, email, password)
    ctx.shared["accounts"] = accounts
    return accounts


def start_gateway(ctx: Context, accounts: Accounts, writer_url: str) -> ServiceProcess:
    """The gateway with its per-user rate limit lifted, so the bench measures the proxy and not the limiter."""
    require("gateway", "serve")
    gateway = ctx.service(
        "gateway",
        "gateway",
        ["serve"],
        port=PORTS["gateway"],
        auth_url=accounts.auth.url(),
        sales_writer_url=writer_url,
        projector_url=f"http://127.0.0.1:{PORTS['mongo-projector']}",
        rate_user_per_s=1_000_000,
        rate_user_burst=1_000_000,
        workers=os.environ.get("BENCH_GATEWAY_WORKERS", "1"),
    )
    return gateway.start(ctx.sampler, "gateway").wait_ready()
