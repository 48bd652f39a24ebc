"""Talk to `deploy/local/stack` from Python: find it, start parts of it, read its env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def repo_root() -> Path:
    """The checkout root: `SUPPLY_REPO_ROOT`, else the nearest parent holding `deploy/local/stack`."""
    configured = os.environ.get("SUPPLY_REPO_ROOT")
    if configured:
        return Path(configured)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "deploy" / "local" / "stack").is_file():
                return candidate
    raise FileNotFoundError("cannot find deploy/local/stack; set SUPPLY_REPO_ROOT")


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
