"""Talk to `deploy/local/stack` from Python: find it, start parts of it, read its env, load its tables."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType


def repo_root() -> Path:
    """The checkout root: `SUPPLY_REPO_ROOT`, else the nearest parent holding `deploy/local/stack`."""
    configured = os.environ.get("SUPPLY_REPO_ROOT")
    if configured:
        return Path(configured)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "deploy" / "local" / "stack" / "__main__.py").is_file():
                return candidate
    raise FileNotFoundError("cannot find deploy/local/stack; set SUPPLY_REPO_ROOT")


def stack_package() -> ModuleType:
    """`deploy/local/stack` imported as the package `supply_stack` (its components, its ACL table)."""
    return import_stack(repo_root())


def import_stack(root: Path) -> ModuleType:
    """`root`'s `deploy/local/stack` imported as the package `supply_stack`, once per process. Needs
    nothing outside the standard library, so a script run without the workspace can use it too."""
    loaded = sys.modules.get("supply_stack")
    if loaded is not None:
        return loaded
    path = root / "deploy" / "local" / "stack"
    spec = importlib.util.spec_from_file_location(
        "supply_stack", path / "__init__.py", submodule_search_locations=[str(path)]
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def stack_command(*args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
    script = repo_root() / "deploy" / "local" / "stack"
    return subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(script), *args],
        check=check,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=None,
    )


def stack_env(start: list[str] | None = None, principal: str | None = None) -> dict[str, str]:
    """Start the named components if asked, then return the env lines `stack env` prints (with the
    Kafka credentials of `principal`, default the tests' own)."""
    if start:
        stack_command("up", "--only", ",".join(start))
    output = stack_command("env", *(("--principal", principal) if principal else ()), capture=True).stdout
    env: dict[str, str] = {}
    for line in output.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            env[name.strip()] = value.strip()
    return env
