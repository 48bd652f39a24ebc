"""What the Prometheus suites share: promtool and prometheus from Debian's package."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def stack_script() -> ModuleType:
    """deploy/local/stack, a script without a .py suffix, loaded as a module."""
    loader = importlib.machinery.SourceFileLoader("supply_stack", str(ROOT / "deploy" / "local" / "stack"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool of Debian's `prometheus`, installed as the local stack installs it (its system service
    never started) when missing, so that the suite runs on a fresh machine."""
    path = shutil.which("promtool")
    if path is None:
        stack = stack_script()
        stack.Prometheus(stack.Stack()).install()
        path = shutil.which("promtool")
    assert path is not None, "promtool is missing after installing Debian's prometheus"
    return path
