"""Run each test suite in its own pytest process and print one closing line for all of them.

Each service keeps its tests in a `tests` package of its own; one pytest process per suite keeps
those packages from shadowing each other. Every suite runs even when an earlier one failed.

    python deploy/run_tests.py [--suite PATH ...] [--without PATH ...] [-- PYTEST ARGS]
"""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = [
    "libs/common/tests",
    "services/auth/tests",
    "services/sales-writer/tests",
    "services/mongo-projector/tests",
    "services/gateway/tests",
    "tests/ops",
    "tests/bench",
    "tests/e2e",
]
OUTPUT = ROOT / "test-output"


def totals(report: Path) -> tuple[int, int, int, int]:
    """(tests, failures + errors, skipped, suites) from a JUnit XML report."""
    if not report.exists():
        return 0, 1, 0, 1
    root = ET.parse(report).getroot()  # noqa: S314 - our own pytest's output
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return tests, failed, skipped, len(suites)


def main(argv: list[str]) -> int:
    pytest_args: list[str] = []
    if "--" in argv:
        pytest_args = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    suites = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--suite"] or SUITES
    without = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--without"}
    suites = [suite for suite in suites if suite not in without]
    OUTPUT.mkdir(exist_ok=True)
    passed = failed = skipped = 0
    summary: list[str] = []
    for suite in suites:
        report = OUTPUT / f"junit-{suite.replace('/', '_')}.xml"
        report.unlink(missing_ok=True)
        started = time.monotonic()
        code = subprocess.call(  # noqa: S603 - fixed command
            [sys.executable, "-m", "pytest", suite, f"--junitxml={report}", *pytest_args], cwd=ROOT
        )
        tests, bad, skip, _ = totals(report)
        if code not in (0, 5) and bad == 0:
            bad = 1
        passed += tests - bad - skip
        failed += bad
        skipped += skip
        summary.append(
            f"{suite:<34} {tests - bad - skip:>4} passed {bad:>3} failed {skip:>3} skipped"
            f"  ({time.monotonic() - started:.0f} s, exit {code})"
        )
    print("\n".join(["", "suites:", *summary, ""]))
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
