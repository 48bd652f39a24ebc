"""`auth` command line: serve, migrate, create users, rotate keys, demo accounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from supply_auth.bootstrap import bootstrap, key_store
from supply_auth.config import AuthSettings
from supply_auth.service_layer.errors import EmailTaken, InvalidInput
from supply_common.db import make_engine
from supply_common.identity import ROLES
from supply_common.logs import configure_logging
from supply_common.serve import run_app

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Supply Store auth.")

DEMO_ROLES = ("customer", "technical_worker", "senior_management")


def _settings() -> AuthSettings:
    settings = AuthSettings()
    configure_logging("auth", settings.log_level)
    return settings


@app.command()
def serve() -> None:
    """Serve the HTTP API."""
    run_app("supply_auth.entrypoints.app:create_app", AuthSettings(), "auth")


@app.command()
def migrate() -> None:
    """Bring the `auth` database schema up to date (Alembic)."""
    from supply_auth.adapters import migrate as migrations  # Alembic and Mako: 10 MB that `serve` never needs

    settings = _settings()
    engine = make_engine(settings)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    typer.echo(f"auth: database {settings.mysql_database} is at the latest schema")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="The account's email.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create an account with any role (the first senior manager is made this way)."""
    if not password_stdin:
        raise typer.BadParameter("pass the password on stdin with --password-stdin", param_hint="--password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    container = bootstrap(_settings())
    try:
        user = container.accounts.create_account(email=email, password=password, name=name, role=role)
    except InvalidInput as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    except EmailTaken:
        typer.echo("refused: an account with this email exists", err=True)
        raise typer.Exit(1) from None
    finally:
        container.close()
    typer.echo(f"created {user.role} {user.email} (id {user.id})")


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Add a new signing key (it signs from now on); keys whose tokens have all expired are deleted."""
    keys = key_store(_settings())
    before = {key.kid for key in keys.all_keys()}
    new = keys.rotate()
    removed = sorted(before - {key.kid for key in keys.all_keys()})
    typer.echo(f"new signing key {new.kid} in {keys.directory}")
    published = ", ".join(key.kid for key in keys.published())
    typer.echo(f"published: {published}")
    if removed:
        typer.echo(f"removed expired keys: {', '.join(removed)}")


def read_demo_file(path: Path) -> list[dict[str, str]]:
    """Demo accounts from `DEMO_<ROLE>_{EMAIL,PASSWORD,NAME}` lines."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip('"').strip("'")
    accounts = []
    for role in DEMO_ROLES:
        prefix = f"DEMO_{role.upper()}_"
        if f"{prefix}EMAIL" in values:
            accounts.append(
                {
                    "role": role,
                    "email": values[f"{prefix}EMAIL"],
                    "password": values[f"{prefix}PASSWORD"],
                    "name": values.get(f"{prefix}NAME", role.replace("_", " ").title()),
                }
            )
    return accounts


@app.command("ensure-demo-users")
def ensure_demo_users(
    file: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The demo accounts file.")],
) -> None:
    """Create the local demo accounts that do not exist yet. Refused in production."""
    settings = _settings()
    if settings.environment == "production":
        typer.echo("refused: demo accounts are never created in production", err=True)
        raise typer.Exit(2)
    container = bootstrap(settings)
    try:
        for account in read_demo_file(file):
            try:
                container.accounts.create_account(**account)
                typer.echo(f"demo {account['role']}: created {account['email']}")
            except EmailTaken:
                typer.echo(f"demo {account['role']}: {account['email']} exists")
    finally:
        container.close()
