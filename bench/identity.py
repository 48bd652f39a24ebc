"""Auth and gateway processes for the bench, with a technical worker account in a throwaway database,
and the tokens the bench calls the services with: the worker's access token (every service verifies
it against this auth's keys) and a service credential for the operator routes it reads."""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.context import Context
from bench.services import PORTS, ServiceProcess, require
from supply_common.processes import PROCESSES
from supply_common.testing.stack import repo_root


@dataclass
class Accounts:
    auth: ServiceProcess
    database: str
    email: str
    password: str
    _token: tuple[str, float] | None = field(default=None, repr=False)

    def token(self) -> str:
        """A fresh access token from a login."""
        body = json.dumps({"email": self.email, "password": self.password}).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.auth.url}/login", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            answer = json.loads(response.read())
        self._token = str(answer["access_token"]), time.monotonic() + int(answer["expires_in"])
        return self._token[0]

    @property
    def jwks_url(self) -> str:
        """Where the services behind the gateway find this auth's keys."""
        return f"{self.auth.url}/.well-known/jwks.json"

    def bearer(self) -> dict[str, str]:
        """An Authorization header with a token good for at least two more minutes (tokens live five:
        one measurement is shorter than two, a whole row is longer than five)."""
        if self._token is None or self._token[1] - time.monotonic() < 120:
            self.token()
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token[0]}"}


def login(auth_url: str, email: str, password: str) -> str:
    """An access token from auth's `/login`."""
    body = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL the caller gave
        f"{auth_url.rstrip('/')}/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the URL the caller gave
        return str(json.loads(response.read())["access_token"])


def demo_worker_token(auth_url: str) -> str:
    """The access token of the local run's demo technical worker (deploy/local/demo.env), for the
    scripts that measure a running `make run` stack."""
    values = dict(
        line.split("=", 1)
        for line in (repo_root() / "deploy" / "local" / "demo.env").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return login(auth_url, values["DEMO_TECHNICAL_WORKER_EMAIL"], values["DEMO_TECHNICAL_WORKER_PASSWORD"])


def service_credential(ctx: Context, subject: str, *scopes: str) -> dict[str, str]:
    """An Authorization header with a service credential for `scopes`, issued by `auth
    issue-service-token` with the keys of the bench's auth (the same folder: the same environment)."""
    path = Path(ctx.out_dir) / "service-tokens" / f"{subject}.jwt"
    args = ["issue-service-token", "--subject", subject, "--out", str(path), "--ttl-s", str(24 * 3600)]
    ctx.command(f"auth-credential-{subject}", "auth", [*args, *(part for s in scopes for part in ("--scope", s))])
    return {"Authorization": f"Bearer {path.read_text().strip()}"}


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
    auth = ctx.service("auth", PROCESSES["auth"].argv, port=PORTS["auth"], mysql_database=database)
    auth.start(ctx.sampler, "auth").wait_ready()
    accounts = Accounts(auth, database, email, password)
    ctx.shared["accounts"] = accounts
    return accounts


def start_gateway(
    ctx: Context, accounts: Accounts, writer_url: str, ports: dict[str, int] = PORTS, name: str = "gateway"
) -> ServiceProcess:
    """The gateway with its per-user rate limit lifted, so the bench measures the proxy and not the limiter
    (`ports` and `name` for one of several running side by side)."""
    require("gateway", "serve")
    gateway = ctx.service(
        name,
        PROCESSES["gateway"].argv,
        port=ports["gateway"],
        auth_url=accounts.auth.url,
        sales_writer_url=writer_url,
        projector_url=f"http://127.0.0.1:{ports['mongo-projector']}",
        rate_user_per_s=1_000_000,
        rate_user_burst=1_000_000,
        workers=os.environ.get("BENCH_GATEWAY_WORKERS", "1"),
    )
    return gateway.start(ctx.sampler, "gateway").wait_ready()
