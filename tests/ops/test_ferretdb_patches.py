"""The local stack's FerretDB patches (deploy/local/ferretdb) pass FerretDB's own Go tests of the
packages they change, on the patched source exactly as the stack builds it (`stack ferretdb-source`).
The patches' own tests are among them (deploy/local/README.md lists each)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from supply_common.testing.stack import stack_package

TESTED = ("internal/util/fsql", "internal/backends/sqlite", "internal/handler")
"""The packages whose Go tests run here, each with the packages below it."""
UNTESTED = {
    "internal/backends": "its tests need PostgreSQL; 0004 only adds two QueryParams fields that the sqlite tests use",
}
"""Packages a patch changes whose tests do not run here, and why."""


def changed_packages() -> set[str]:
    """The Go package folders every patch changes a file of."""
    stack = stack_package()
    folders: set[str] = set()
    for patch in stack.FerretDB.patches():
        for path in re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), flags=re.MULTILINE):
            folders.add(str(Path(path).parent))
    return folders


def test_every_package_a_patch_changes_is_tested_here_or_says_why_not() -> None:
    changed = changed_packages()
    assert changed, "no patch found"
    for folder in changed:
        covered = any(folder == tested or folder.startswith(tested + "/") for tested in TESTED)
        assert covered or folder in UNTESTED, f"{folder}: changed by a patch, tested nowhere"


@pytest.mark.timeout(1200)
def test_the_patched_packages_pass_ferretdbs_go_tests(tmp_path: Path) -> None:
    stack = stack_package()
    source = tmp_path / "ferretdb"
    stack.FerretDB(stack.Stack()).write_source(source)
    (source / ".git").mkdir()  # FerretDB's tests find the repository's root by it
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    assert go is not None, "Go is needed to build the stack's FerretDB; it is not on PATH"
    ran = subprocess.run(
        [go, "test", "-count=1", *(f"./{package}/..." for package in TESTED)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
    assert ran.stdout.count("\nok ") + ran.stdout.startswith("ok ") >= len(TESTED), ran.stdout
