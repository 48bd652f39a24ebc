"""What every part shares: the folders, the project's name and port, running a command, reporting."""

# ruff: noqa: S603
from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = ROOT / "deploy" / "compose"
IMAGES = HERE / "images"
CACHE = Path(os.environ.get("SUPPLY_CACHE_DIR") or Path.home() / ".cache" / "supply-store") / "compose"
PROJECT = "supplycompose"
GATEWAY_PORT = int(os.environ.get("COMPOSE_TEST_GATEWAY_PORT") or 18000)
GATEWAY = f"http://127.0.0.1:{GATEWAY_PORT}"

ENV = {**os.environ, "CONTAINERS_CONF": str(HERE / "containers.conf"), "DEBIAN_FRONTEND": "noninteractive"}


class Failed(Exception):
    """A check or a step that did not hold; reported without a traceback."""


def say(text: str) -> None:
    print(f"test-compose: {text}", flush=True)


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    started = time.monotonic()
    say(f"{what} ...")
    yield
    say(f"{what}: done ({time.monotonic() - started:.1f} s)")


def sh(
    cmd: Sequence[str],
    *,
    quiet: bool = False,
    check: bool = True,
    timeout: float | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command; its output is returned (quiet) or shown; a failure raises with the output."""
    result = subprocess.run(
        list(cmd),
        input=stdin,
        capture_output=quiet,
        text=True,
        check=False,
        timeout=timeout,
        env=env or ENV,
        cwd=cwd or ROOT,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "") if quiet else ""
        raise Failed(f"`{' '.join(cmd)}` exited with {result.returncode}\n{output[-4000:]}")
    return result.stdout or ""


def podman(*args: str, check: bool = True, timeout: float = 120, stdin: str | None = None) -> str:
    return sh(["podman", *args], quiet=True, check=check, timeout=timeout, stdin=stdin)
