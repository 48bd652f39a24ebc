"""Debian's Chromium driven by Playwright, and axe-core from npm to check pages; both installed on
first use."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from supply_common.testing.stack import repo_root

from .steps import SIZES

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


AXE_VERSION = "4.14.1"
AXE_CACHE = repo_root() / ".cache" / f"axe-core-{AXE_VERSION}"


def install_npm() -> str:
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail("npm is needed once to fetch axe-core, and apt-get is not available to install it")
    subprocess.run([apt, "install", "-y", "--no-install-recommends", "npm"], check=True, capture_output=True)
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("installing npm did not put it on PATH")
    return npm


def axe_core() -> str:
    """axe-core's browser script, of the pinned version: `npm pack` fetches the package once (npm
    checks its integrity against the registry) into a cache folder that git ignores."""
    script = AXE_CACHE / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm") or install_npm()
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", folder, "--silent"],
                check=True,
                capture_output=True,
                timeout=300,
            )
            with tarfile.open(Path(folder) / f"axe-core-{AXE_VERSION}.tgz") as packed:
                member = packed.extractfile("package/axe.min.js")
                if member is None:
                    pytest.fail(f"axe-core {AXE_VERSION} has no axe.min.js")
                AXE_CACHE.mkdir(parents=True, exist_ok=True)
                partial = script.with_suffix(".partial")
                partial.write_bytes(member.read())
                partial.replace(script)
    return script.read_text()


@pytest.fixture(scope="session")
def axe_script() -> str:
    return axe_core()


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


@pytest.fixture(params=list(SIZES))
def width(request: pytest.FixtureRequest, page) -> int:  # type: ignore[no-untyped-def]
    """The test runs once at each screen size every page is checked at (`steps.SIZES`), with `page`
    set to it: its width in px."""
    size = SIZES[request.param]
    page.set_viewport_size(size)
    return size["width"]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = repo_root() / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
