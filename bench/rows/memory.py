"""Row 9: the peak resident set size of each service process the bench ran (sampled twice a second)."""

from __future__ import annotations

from bench.context import Context
from bench.model import Row
from bench.services import ServiceMissing


def run(ctx: Context) -> Row:
    ctx.sampler.sample()
    peaks = {name: peak for name, peak in ctx.sampler.peaks_mb.items() if name != "naive dual write"}
    if not peaks:
        raise ServiceMissing("no service process ran")
    row = Row("9", "Memory: peak RSS per service process")
    for name, peak in sorted(peaks.items()):
        key = "rss_" + name.replace(" ", "_").replace("-", "_")
        row.figure(key, f"{name}, peak RSS", "MB", False).samples.append(peak)
    row.figure("max_rss", "largest of the above", "MB", False).samples.append(max(peaks.values()))
    row.note = "peak over the whole run, sampled twice a second; one value per run"
    return row
