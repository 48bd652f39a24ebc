"""`supply-contract schema [--check]`: write the envelopes' JSON Schemas, or fail if a file drifted."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import BaseModel

from supply_common.contract.account_events import AccountEvent
from supply_common.contract.envelope import SaleEvent

app = typer.Typer(add_completion=False, help="The event contract's checked-in artefacts.")


@app.callback()
def main() -> None:
    """The event contract's checked-in artefacts."""


DEFAULT_DIRECTORY = Path("docs/contract")
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "sale-event.schema.json": (SaleEvent, "urn:supply-store:sales.events:sale-event:v1"),
    "account-event.schema.json": (AccountEvent, "urn:supply-store:auth.account-events:account-event:v1"),
}
"""Each envelope's schema file, by name in the contract folder, and the model it is made from."""


def schema_text(name: str = "sale-event.schema.json") -> str:
    model, schema_id = SCHEMAS[name]
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = schema_id
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@app.command()
def schema(
    directory: Path = typer.Option(DEFAULT_DIRECTORY, help="Where the schemas live in the repo."),
    check: bool = typer.Option(False, "--check", help="Fail if a file differs from its model."),
) -> None:
    """Write (or with --check, verify) the JSON Schemas of the event envelopes (sales, accounts)."""
    stale = False
    for name in SCHEMAS:
        path, text = directory / name, schema_text(name)
        if check:
            if not path.exists() or path.read_text() != text:
                typer.echo(f"{path} is out of date: run `uv run supply-contract schema`", err=True)
                stale = True
            else:
                typer.echo(f"{path} matches the model")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        typer.echo(f"wrote {path}")
    if stale:
        raise typer.Exit(1)
