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
    row = Row("9", "Memory: peak RSS per service (all its processes)")
    sampler = ctx.sampler
    for name, peak in sorted(peaks.items()):
        key = "rss_" + name.replace(" ", "_").replace("-", "_")
        count = sampler.processes.get(name, 1)
        label = f"{name}, peak RSS" + (f" ({count} processes)" if count > 1 else "")
        row.figure(key, label, "MB", False).samples.append(peak)
        if count > 1:
            row.figure(f"{key}_largest", f"{name}, its largest process", "MB", False).samples.append(
                sampler.largest_process_mb[name]
            )
    row.figure("max_rss", "largest service", "MB", False).samples.append(max(peaks.values()))
    row.figure("max_process_rss", "largest single process", "MB", False).samples.append(
        max(sampler.largest_process_mb.get(name, peak) for name, peak in peaks.items())
    )
    row.note = "peak over the whole run, sampled twice a second, children included; one value per run"
    return row
