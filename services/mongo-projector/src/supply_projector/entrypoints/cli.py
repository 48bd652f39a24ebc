"""`mongo-projector` command line."""

from __future__ import annotations

import typer

from supply_common.serve import run_app
from supply_projector.config import ProjectorSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Supply Store mongo-projector.")


@app.command()
def serve() -> None:
    """Serve the HTTP API."""
    run_app("supply_projector.entrypoints.app:build_app", ProjectorSettings(), "mongo-projector")
