"""`make bench RECORD=1`: the overview holds the latest run only, the history every run in order."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.model import Figure, Row, Run


def a_run(started_at: str, creates_per_s: float) -> Run:
    row = Row("2", "sales-writer direct", figures=[Figure("creates_c16", "creates/s", "creates/s", [creates_per_s])])
    return Run(started_at=started_at, profile="full", settings={"reps": 1}, machine={"cores_logical": 2}, rows=[row])


OVERVIEW = "# Performance\n\nWhat the bench measures.\n\n## Where things stand\n\nA table.\n"


def test_each_recorded_run_replaces_the_latest_and_joins_the_history(tmp_path: Path) -> None:
    (tmp_path / "performance.md").write_text(OVERVIEW)
    first = a_run("2026-01-01T00:00:00+00:00", 1111)
    second = a_run("2026-01-02T00:00:00+00:00", 2222)

    report.record(first, tmp_path / "first.json", tmp_path)
    after_first = (tmp_path / "performance.md").read_text()
    report.record(second, tmp_path / "second.json", tmp_path)
    overview = (tmp_path / "performance.md").read_text()
    history = (tmp_path / "performance-history.md").read_text()

    assert overview.startswith(OVERVIEW)
    assert "## Latest recorded run: 2026-01-01" in after_first
    assert "## Latest recorded run: 2026-01-02" in overview
    assert "2026-01-01" not in overview
    assert "2,222" in overview
    assert "1,111" not in overview
    assert overview.count(report.LATEST_START) == overview.count(report.LATEST_END) == 1
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "performance.md").write_text(OVERVIEW)
    report.record(second, tmp_path / "second.json", fresh)
    assert overview == (fresh / "performance.md").read_text()  # as if the first had never been recorded
    runs = history.split(report.RUNS_HEADING, 1)[1]
    assert runs.index("### Run of 2026-01-01") < runs.index("### Run of 2026-01-02")
    assert "`first.json`" in runs
    assert "`second.json`" in runs


def test_text_after_the_latest_run_stays_where_it_was(tmp_path: Path) -> None:
    (tmp_path / "performance.md").write_text(
        f"{OVERVIEW}\n{report.LATEST_START}\nan old run\n{report.LATEST_END}\n\n## Where the time goes\n\nProfiles.\n"
    )
    report.record(a_run("2026-01-03T00:00:00+00:00", 3333), tmp_path / "third.json", tmp_path)
    overview = (tmp_path / "performance.md").read_text()

    assert "an old run" not in overview
    assert overview.index("3,333") < overview.index("## Where the time goes") < overview.index("Profiles.")
    assert overview.endswith("## Where the time goes\n\nProfiles.\n")
