"""`make bench RECORD=1`: the run's JSON kept in docs/runs/, one line in the history, the overview
linking the latest run only; any recorded run's tables come back from its JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import record
from bench.model import Figure, LatencyPoint, Ratio, Row, Run

REPO_DOCS = Path(__file__).resolve().parents[2] / "docs"


def a_run(started_at: str, creates_per_s: float) -> Run:
    row = Row("2", "sales-writer direct", figures=[Figure("creates_c16", "creates/s", "creates/s", [creates_per_s])])
    point = LatencyPoint(0.5, 100.0, [99.0], [3.0], [9.0], [10.0], [11.0], [0])
    row.curves = {"sales-writer": [point], "gateway": [point]}  # kept in this order, not sorted
    ratio = Ratio("writer / raw", "2:creates_c16", "1:tx_c16", 0.5, 0.4, 0.6, ">= 0.6 x", meets=False)
    return Run(
        started_at=started_at,
        profile="full",
        settings={"reps": 1},
        machine={"cores_logical": 2, "git_commit": "abc1234"},
        rows=[row],
        ratios=[ratio],
    )


OVERVIEW = "# Performance\n\nWhat the bench measures.\n\n## Where things stand\n\nA table.\n"


def test_each_recorded_run_is_kept_as_json_and_replaces_the_latest_link(tmp_path: Path) -> None:
    (tmp_path / "performance.md").write_text(OVERVIEW)
    first = a_run("2026-01-01T00:00:00+00:00", 1111)
    second = a_run("2026-01-02T00:00:00+00:00", 2222)

    record.record(first, tmp_path)
    after_first = (tmp_path / "performance.md").read_text()
    record.record(second, tmp_path)
    overview = (tmp_path / "performance.md").read_text()
    history = (tmp_path / "performance-history.md").read_text()

    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == [
        "20260101T000000Z.json.gz",
        "20260102T000000Z.json.gz",
    ]
    assert overview.startswith(OVERVIEW)
    assert "## Latest recorded run: 2026-01-01" in after_first
    assert "## Latest recorded run: 2026-01-02" in overview
    assert "runs/20260102T000000Z.json.gz" in overview
    assert "python -m bench.record show 20260102T000000Z" in overview
    assert "2026-01-01" not in overview
    assert "| 2 |" not in overview  # linked, not copied
    assert overview.count(record.LATEST_START) == overview.count(record.LATEST_END) == 1
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "performance.md").write_text(OVERVIEW)
    record.record(second, fresh)
    assert overview == (fresh / "performance.md").read_text()  # as if the first had never been recorded
    runs = history.split(record.RUNS_HEADING, 1)[1].strip().splitlines()[2:]
    assert [line.split()[1] for line in runs] == ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    assert runs[1] == (
        "- 2026-01-02T00:00:00+00:00 (full), commit abc1234: 0 of 1 targets met (missed: writer / raw 0.50 x)."
        " `20260102T000000Z`"
    )


def test_the_full_tables_of_a_recorded_run_come_back_from_its_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = a_run("2026-01-02T00:00:00+00:00", 2222)
    stored, _, _ = record.record(run, tmp_path)

    assert record.main(["--docs", str(tmp_path), "show", "20260102T000000Z"]) == 0
    shown = capsys.readouterr().out

    assert shown == record.Tables.of(run, "runs/20260102T000000Z.json.gz").markdown()
    assert "| 2 | sales-writer direct: creates/s | 2,222 | 2,222 - 2,222 | creates/s |" in shown
    assert "| writer / raw | 0.50 x | 0.40 - 0.60 | >= 0.6 x | misses |" in shown
    assert shown.index("| 2 | sales-writer | 50% |") < shown.index("| 2 | gateway | 50% |")
    assert record.load_tables(stored) == record.Tables.of(run, "runs/20260102T000000Z.json.gz")


def test_every_run_the_history_lists_has_its_json_in_the_repo() -> None:
    history = (REPO_DOCS / "performance-history.md").read_text()
    listed = [
        line.rsplit("`", 2)[1] for line in history.split(record.RUNS_HEADING, 1)[1].splitlines() if line[:2] == "- "
    ]
    stored = sorted(path.name.removesuffix(".json.gz") for path in (REPO_DOCS / "runs").glob("*.json.gz"))

    assert listed
    assert listed == stored
    for stamp in listed:
        tables = record.load_tables(REPO_DOCS / "runs" / f"{stamp}.json.gz")
        assert tables.figures
        assert tables.ratios


def test_text_after_the_latest_run_stays_where_it_was(tmp_path: Path) -> None:
    (tmp_path / "performance.md").write_text(
        f"{OVERVIEW}\n{record.LATEST_START}\nan old run\n{record.LATEST_END}\n\n## Where the time goes\n\nProfiles.\n"
    )
    record.record(a_run("2026-01-03T00:00:00+00:00", 3333), tmp_path)
    overview = (tmp_path / "performance.md").read_text()

    assert "an old run" not in overview
    assert overview.index("20260103T000000Z") < overview.index("## Where the time goes") < overview.index("Profiles.")
    assert overview.endswith("## Where the time goes\n\nProfiles.\n")
