"""`gateway` command line."""

from __future__ import annotations

import typer

from supply_common.serve import run_app
from supply_gateway.config import GatewaySettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Supply Store gateway.")


@app.command()
def serve() -> None:
    """Serve the HTTP API."""
    run_app("supply_gateway.entrypoints.app:create_app", GatewaySettings(), "gateway")


@app.command()
def policy() -> None:
    """Print the policy table as Markdown (the README section)."""
    from supply_gateway.domain.policy import Policy

    typer.echo(Policy().markdown())
