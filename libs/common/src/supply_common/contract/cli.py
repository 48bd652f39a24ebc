"""`supply-contract schema [--check]`: write the envelope's JSON Schema, or fail if the file drifted."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from supply_common.contract.envelope import SaleEvent

app = typer.Typer(add_completion=False, help="The event contract's checked-in artefacts.")


@app.callback()
def main() -> None:
    """The event contract's checked-in artefacts."""


DEFAULT_PATH = Path("docs/contract/sale-event.schema.json")


def schema_text() -> str:
    schema = SaleEvent.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "urn:supply-store:sales.events:sale-event:v1"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@app.command()
def schema(
    path: Path = typer.Option(DEFAULT_PATH, help="Where the schema lives in the repo."),
    check: bool = typer.Option(False, "--check", help="Fail if the file differs from the model."),
) -> None:
    """Write (or with --check, verify) the JSON Schema of the sale event envelope."""
    text = schema_text()
    if check:
        if not path.exists() or path.read_text() != text:
            typer.echo(f"{path} is out of date: run `uv run supply-contract schema`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{path} matches the model")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    typer.echo(f"wrote {path}")
