"""The local stack's Go builds (FerretDB, Jaeger): a program is built again only when what it is
built from changes, and a build that fails its trial run leaves the program it would replace."""

from __future__ import annotations

from pathlib import Path

import pytest

from supply_common.testing.fixtures import not_here
from supply_common.testing.stack import stack_package

host = stack_package().host

MAIN = """package main

import "os"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--fail" {
		os.Exit(2)
	}
}
"""


@pytest.fixture
def go() -> str:
    try:
        return str(host.find_go("test", "to build a test program"))
    except host.StackError:
        not_here("no Go toolchain on this machine")  # under CI a failure: the stack builds FerretDB with it
        raise


def module_source(folder: Path) -> Path:
    (folder / "cmd" / "hello").mkdir(parents=True)
    (folder / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (folder / "cmd" / "hello" / "main.go").write_text(MAIN)
    return folder


def test_a_built_program_counts_as_built_for_its_own_build_id_only(go: str, tmp_path: Path) -> None:
    binary = tmp_path / "bin" / "hello"
    source = module_source(tmp_path / "build")
    assert not host.go_built(binary, "one")

    host.go_build(go, source, "./cmd/hello", binary, "one", tmp_path / "setup.log", try_with=["--version"])

    assert binary.exists()
    assert not source.exists()
    assert host.go_built(binary, "one")
    assert not host.go_built(binary, "two")


def test_a_build_whose_trial_run_fails_keeps_the_program_it_would_replace(go: str, tmp_path: Path) -> None:
    binary = tmp_path / "bin" / "hello"
    log = tmp_path / "setup.log"
    host.go_build(go, module_source(tmp_path / "first"), "./cmd/hello", binary, "one", log)

    with pytest.raises(host.StackError, match="exited with 2"):
        host.go_build(go, module_source(tmp_path / "second"), "./cmd/hello", binary, "two", log, try_with=["--fail"])

    assert host.go_built(binary, "one")
    assert not host.go_built(binary, "two")
