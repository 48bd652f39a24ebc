"""`sales-writer` command line."""

from __future__ import annotations

import typer

from supply_common.serve import run_app
from supply_sales_writer.config import SalesWriterSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Supply Store sales-writer.")


@app.command()
def serve() -> None:
    """Serve the HTTP API."""
    run_app("supply_sales_writer.entrypoints.app:build_app", SalesWriterSettings(), "sales-writer")
