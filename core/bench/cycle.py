"""The `engines` benchmark: one full runtime cycle (SPEC §11), metrics for every expiry plus the seven engines."""

from __future__ import annotations

import math
import time
from typing import Any

from core.analytics.structural import LiveStructuralEngine
from core.bench.common import percentiles
from core.bench.metrics import TICKING_LEGS, bench_snapshot, ticking
from core.config import AnalyticsConfig, EngineConfig
from core.engines.pipeline import EnginePipeline


def bench_cycle(iterations: int = 300, warmup: int = 60) -> dict[str, Any]:
    """Time metrics (both expiries, 324 legs) + EnginePipeline.evaluate per 1 s event-time step.

    Spot follows a deterministic wave so the engines' histories and windows do real work, and
    TICKING_LEGS legs have a new tick every second (see core.bench.metrics).
    """
    structural = LiveStructuralEngine(AnalyticsConfig())
    pipeline = EnginePipeline(EngineConfig())
    base = bench_snapshot()
    assert base.spot is not None  # the bench chain always has a spot
    engine_ms, total_ms = [], []
    snap = base
    for i in range(warmup + iterations):
        snap = ticking(snap, i, spot=base.spot * (1.0 + 0.002 * math.sin(i / 40.0)))
        start = time.perf_counter()
        metrics = structural.compute_all(snap)[0]  # as core.runtime: the default expiry first
        t_engines = time.perf_counter()
        pipeline.evaluate(metrics)
        end = time.perf_counter()
        if i >= warmup:
            engine_ms.append((end - t_engines) * 1000.0)
            total_ms.append((end - start) * 1000.0)
    return {
        "legs": len(base.legs),
        "ticking_legs_per_cycle": TICKING_LEGS,
        "iterations": iterations,
        "cycle": percentiles(total_ms, mean=True),
        "engines_only": percentiles(engine_ms, mean=True),
    }


def run(db: str | None) -> dict[str, Any]:
    return bench_cycle()
