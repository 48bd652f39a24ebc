"""`auth` command line."""

from __future__ import annotations

import typer

from supply_common.serve import run_app
from supply_auth.config import AuthSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Supply Store auth.")


@app.command()
def serve() -> None:
    """Serve the HTTP API."""
    run_app("supply_auth.entrypoints.app:build_app", AuthSettings(), "auth")
