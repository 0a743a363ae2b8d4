"""The `memory` benchmark: memory of a whole runtime over a simulated session (SPEC §11: memory flat),
driven by hand."""

from __future__ import annotations

import gc
import os
from dataclasses import replace
from typing import Any

from core.bench.common import scratch_dir
from core.config import FeedConfig, load_config
from core.domain import InstrumentInfo
from core.feed.simulator import Simulator
from core.runtime import Runtime
from core.storage.database import upgrade


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(minutes: int = 150, sample_every_min: int = 10) -> dict[str, Any]:
    """Feed NIFTY+BANKNIFTY demo through state, metrics, engines, bus and the logger into SQLite.

    The feed thread is replaced by a loop over the simulator's batches (as fast as possible); the
    logger thread runs for real. RSS is sampled every `sample_every_min` simulated minutes. The ring
    buffers (UI series, engine histories) fill during the first hour by design, so "flat" is judged
    on the growth over the last hour.
    """
    data_dir = str(scratch_dir("mem"))
    feed = FeedConfig(symbols=("NIFTY", "BANKNIFTY"), scenario="demo", speed=0.0)
    config = replace(load_config(env={"STRIKEIQ_DATA_DIR": data_dir}), feed=feed)
    sim = Simulator(feed)
    runtime = Runtime(config, feed=sim)
    upgrade(config.database_url)
    runtime.logger.start()
    samples, next_mark = [], sim.start_ts
    try:
        for batch in sim.batches(until_ts=sim.start_ts + minutes * 60):
            runtime.on_items(batch)
            if batch and type(batch[-1]) is not InstrumentInfo and batch[-1].ts >= next_mark:
                gc.collect()
                samples.append(round(_rss_mb(), 1))
                next_mark += sample_every_min * 60
    finally:
        runtime.logger.stop(30.0)
    last_hour = samples[-(60 // sample_every_min) - 1 :]
    return {
        "simulated_minutes": minutes,
        "rss_mb_every_10_min": samples,
        "growth_last_hour_mb": round(last_hour[-1] - last_hour[0], 1),
        "signals": runtime.health()["cycle"]["signals"],
    }


def run(db: str | None) -> dict[str, Any]:
    return bench_memory()
