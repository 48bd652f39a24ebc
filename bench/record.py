"""What `make bench RECORD=1` keeps: the run's JSON in docs/runs/, a line in the history, a link in
performance.md. Any recorded run's full table comes back with `python -m bench.record show RUN`.

A recorded run is shown as the cells of three tables (figures, open-loop latency, ratios). The runs
recorded before their JSON was kept in the repo are stored as those cells only; later ones as the whole
run, from which the same cells are computed."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import reads_report
from bench.model import Figure, LatencyPoint, Ratio, Row, Run

RUNS_DIR = "runs"
IN_READS_TABLES = "in the reads tables below"
LATEST_START = "<!-- latest recorded run: `make bench RECORD=1` replaces what is between these markers -->"
LATEST_END = "<!-- end of the latest recorded run -->"
HISTORY_HEADER = """# Performance history

Every run recorded with `make bench RECORD=1`, oldest first, and what was read from each: the
comparisons from run to run, the profiles and the trials behind each change. Where things stand now
is in [performance.md](performance.md).
"""
RUNS_HEADING = "## Recorded runs, oldest first"
RUNS_INTRO = (
    "One line a run. Each run's JSON is in [runs/](runs/); `python -m bench.record show STAMP` prints"
    " its full tables (figures, open-loop latency, ratios)."
)


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def median(values: list[float] | list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def spread_cells(figure: Figure) -> tuple[str, str, str]:
    """Median, "min - max" and the number of repetitions, as printed."""
    spread = figure.spread
    if spread is None:
        return "-", "-", "0"
    return number(spread.median), f"{number(spread.low)} - {number(spread.high)}", str(spread.n)


def ratio_value(ratio: Ratio) -> str:
    if ratio.value is None:
        return "n/a"
    value = f"{ratio.value:.2f}" if ratio.unit == "x" else number(ratio.value)
    return f"{value} {ratio.unit}"


def ratio_range(ratio: Ratio) -> str:
    if ratio.low is None or ratio.high is None:
        return "-"
    if ratio.unit == "x":
        return f"{ratio.low:.2f} - {ratio.high:.2f}"
    return f"{number(ratio.low)} - {number(ratio.high)}"


def verdict(ratio: Ratio) -> str:
    if ratio.meets is None:
        return ""
    return "meets" if ratio.meets else "misses"


@dataclass
class Tables:
    """A recorded run as the docs show it: the sentence about the machine and the cells of its tables."""

    started_at: str
    profile: str
    machine: str
    results: str
    figures: list[list[str]] = field(default_factory=list)
    curves: list[list[str]] = field(default_factory=list)
    ratios: list[list[str]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    """The reads row's own tables (markdown lines): its figures are too many for the figures table."""

    @classmethod
    def of(cls, run: Run, results: str) -> Tables:
        machine, settings = run.machine, run.settings
        sentence = (
            f"Machine: {machine.get('cores_logical')} cores ({machine.get('cpu_model')}),"
            f" {machine.get('memory_gib')} GiB;"
            f" MariaDB {machine.get('mariadb')}, Kafka {machine.get('kafka')}, FerretDB {machine.get('ferretdb')},"
            f" Python {machine.get('python')}; commit {machine.get('git_commit')}; load average at start"
            f" {machine.get('load_average_at_start')}. Repetitions: {settings.get('reps')} for the raw rows,"
            f" {settings.get('reps_service')} for the service rows, {settings.get('reps_projector')} for the"
            f" projector; {settings.get('duration_s')} s per point; took {run.elapsed_s:.0f} s."
        )
        tables = cls(run.started_at, run.profile, sentence, results)
        for row in run.rows:
            if row.status != "ok":
                tables.figures.append([row.id, row.title, row.note or row.status, "", ""])
                continue
            if row.id == reads_report.ROW_ID:
                tables.figures.append([row.id, row.title, IN_READS_TABLES, "", ""])
                continue
            for figure in row.figures:
                middle, low_high, _ = spread_cells(figure)
                tables.figures.append([row.id, f"{row.title}: {figure.label}", middle, low_high, figure.unit])
        for row in run.rows:
            for name, points in row.curves.items():
                for point in points:
                    values = (point.achieved_per_s, point.p50_ms, point.p99_ms, point.p999_ms, point.max_ms)
                    cells = [number(median(value)) for value in values]
                    tables.curves.append([row.id, name, f"{point.fraction:.0%}", number(point.offered_per_s), *cells])
        for ratio in run.ratios:
            tables.ratios.append([ratio.label, ratio_value(ratio), ratio_range(ratio), ratio.target, verdict(ratio)])
        tables.reads = reads_report.markdown(run)
        return tables

    def markdown(self, heading: str = "Run of", level: int = 2) -> str:
        """The run's section: the machine, its figures, open-loop latency and ratios."""
        lines = [
            f"{'#' * level} {heading} {self.started_at} ({self.profile})",
            "",
            f"{self.machine} Results: `{self.results}`.",
            "",
            "| row | measure | median | min - max | unit |",
            "|---|---|---:|---:|---|",
            *(_table_line(cells) for cells in self.figures),
        ]
        if self.curves:
            lines += [
                "",
                "Open-loop latency, from each request's scheduled start (median of repetitions):",
                "",
                "| row | series | load | offered/s | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|",
                *(_table_line(cells) for cells in self.curves),
            ]
        lines += self.reads
        lines += ["", "| ratio | value | range | target | |", "|---|---:|---:|---|---|"]
        lines += [_table_line(cells) for cells in self.ratios]
        return "\n".join(lines) + "\n\n"

    def summary(self, stamp: str) -> str:
        """One line: when, which commit, how the ratios with a target fared, and how to see the rest."""
        commit = self.machine.partition("; commit ")[2].partition(";")[0] or "?"
        judged = [cells for cells in self.ratios if cells[4]]
        misses = [f"{cells[0]} {cells[1]}" for cells in judged if cells[4] == "misses"]
        met = f"{len(judged) - len(misses)} of {len(judged)} targets met"
        failed = [cells[0] for cells in self.figures if cells[3] == cells[4] == "" and cells[2] != IN_READS_TABLES]
        parts = [f"- {self.started_at} ({self.profile}), commit {commit}: {met}"]
        if misses:
            parts.append(f" (missed: {'; '.join(misses)})")
        if failed:
            parts.append(f"; rows not measured: {', '.join(dict.fromkeys(failed))}")
        parts.append(f". `{stamp}`")
        return "".join(parts)


def _table_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def stamp_of(run: Run) -> str:
    """The run's file name without suffix, as `python -m bench` names its results (20261128T075515Z)."""
    return run.started_at[:19].replace("-", "").replace(":", "") + "Z"


def write_run(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, indent=1, default=str).encode() + b"\n"
    path.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))


def load_tables(path: Path) -> Tables:
    """The tables of a stored run: a whole run (`rows`) or the cells of one recorded before (`tables`)."""
    data = json.loads(gzip.decompress(path.read_bytes()))
    if "tables" in data:
        return Tables(**data["tables"])
    return Tables.of(run_from_json(data), f"{RUNS_DIR}/{path.name}")


def run_from_json(data: dict[str, Any]) -> Run:
    """The inverse of `Run.to_json` (the computed `summary` of each figure is dropped)."""
    rows = []
    for row in data["rows"]:
        figures = [Figure(f["key"], f["label"], f["unit"], f["samples"], f["higher_is_better"]) for f in row["figures"]]
        curves = {name: [LatencyPoint(**point) for point in points] for name, points in row["curves"].items()}
        fields = {key: row[key] for key in ("id", "title", "status", "note", "curve_unit")}
        rows.append(Row(**fields, figures=figures, curves=curves))
    return Run(
        started_at=data["started_at"],
        profile=data["profile"],
        settings=data["settings"],
        machine=data["machine"],
        rows=rows,
        ratios=[Ratio(**ratio) for ratio in data["ratios"]],
        elapsed_s=data["elapsed_s"],
        profiles=data.get("profiles", {}),
    )


def record(run: Run, docs: Path) -> tuple[Path, Path, Path]:
    """Keep the run as `docs/runs/<stamp>.json.gz`, add its line to the history and link it from
    `docs/performance.md` in place of the latest one.

    The history keeps its recorded runs as its last section, so a line is appended. The overview keeps
    one run between `LATEST_START` and `LATEST_END`; without the markers the run is appended with them."""
    stamp = stamp_of(run)
    stored = docs / RUNS_DIR / f"{stamp}.json.gz"
    write_run(stored, run.to_json())
    tables = Tables.of(run, f"{RUNS_DIR}/{stored.name}")
    overview, history = docs / "performance.md", docs / "performance-history.md"
    if not history.exists():
        history.write_text(f"{HISTORY_HEADER}\n{RUNS_HEADING}\n\n{RUNS_INTRO}\n\n")
    with history.open("a") as handle:
        handle.write(tables.summary(stamp) + "\n")
    latest = (
        f"{LATEST_START}\n## Latest recorded run: {run.started_at} ({run.profile})\n\n"
        f"{tables.summary(stamp).removeprefix('- ')}\n\n"
        f"Its JSON: [{RUNS_DIR}/{stored.name}]({RUNS_DIR}/{stored.name}); its full tables:"
        f" `python -m bench.record show {stamp}`.\n{LATEST_END}\n"
    )
    text = overview.read_text() if overview.exists() else "# Performance\n"
    start, end = text.find(LATEST_START), text.find(LATEST_END)
    if start != -1 and end > start:
        text = text[:start] + latest + text[end + len(LATEST_END) :].removeprefix("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + latest
    overview.write_text(text)
    return stored, overview, history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.record", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print a recorded run's full tables as markdown")
    show.add_argument("run", help="its stamp (20261128T075515Z), or the path of a .json.gz")
    commands.add_parser("list", help="the recorded runs, oldest first")
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parent.parent / "docs")
    args = parser.parse_args(argv)
    runs = args.docs / RUNS_DIR
    if args.command == "list":
        for path in sorted(runs.glob("*.json.gz")):
            print(path.name.removesuffix(".json.gz"))
        return 0
    path = Path(args.run) if args.run.endswith(".json.gz") else runs / f"{args.run}.json.gz"
    if not path.exists():
        print(f"no recorded run {args.run!r} in {runs}", file=sys.stderr)
        return 2
    sys.stdout.write(load_tables(path).markdown())
    return 0


def tables_json(tables: Tables) -> dict[str, Any]:
    """How a run recorded before its JSON was kept is stored: the cells of its tables."""
    return {"tables": asdict(tables)}


if __name__ == "__main__":
    raise SystemExit(main())
