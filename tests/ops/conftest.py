"""What the Prometheus suites share: promtool and prometheus from Debian's package."""

from __future__ import annotations

import shutil

import pytest

from supply_common.testing.stack import stack_package


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool of Debian's `prometheus`, installed as the local stack installs it (its system service
    never started) when missing, so that the suite runs on a fresh machine."""
    path = shutil.which("promtool")
    if path is None:
        stack = stack_package()
        stack.Prometheus(stack.Stack()).install()
        path = shutil.which("promtool")
    assert path is not None, "promtool is missing after installing Debian's prometheus"
    return path
