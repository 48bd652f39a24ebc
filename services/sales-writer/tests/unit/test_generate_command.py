"""`sales-writer generate` writes the shared generator's sales as `mongoexport` lines that import
back as valid sales; the same seed gives the same file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from supply_common.contract import from_extended_json
from supply_common.testing import dataset
from supply_sales_writer.entrypoints.cli import app


def generate(*args: str) -> str:
    result = CliRunner().invoke(app, ["generate", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_same_seed_gives_the_same_lines_as_the_shared_generator() -> None:
    written = generate("30", "--seed", "5").splitlines()
    assert written == list(dataset.lines(30, seed=5))
    assert written != generate("30", "--seed", "6").splitlines()
    assert len({from_extended_json(line).id for line in written}) == 30


def test_without_a_seed_each_run_differs_and_out_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "sales.json"
    assert generate("5", "--out", str(target)) == ""
    lines = target.read_text().splitlines()
    assert len(lines) == 5
    assert lines != generate("5").splitlines()
