"""Debian's Chromium driven by Playwright; installed on first use."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from supply_common.testing.stack import repo_root

CHROMIUM = Path("/usr/bin/chromium")
QUIET_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail("/usr/bin/chromium is missing and apt-get is not available to install it")
    subprocess.run([apt, "install", "-y", "--no-install-recommends", "chromium"], check=True, capture_output=True)
    if not CHROMIUM.exists():
        pytest.fail("installing chromium did not give /usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running while it is open, which
    would stop async tests elsewhere in the same run."""
    ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=QUIET_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, gateway_url: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=gateway_url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = repo_root() / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
