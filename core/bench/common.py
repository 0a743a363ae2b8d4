"""What every benchmark shares: wall-clock samples of a call, their percentiles, a throwaway SQLite file.

Benchmarks time with perf_counter: wall time is what a benchmark measures (analytics run on event time).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def time_ms(fn: Callable[[], Any], runs: int) -> list[float]:
    """Milliseconds of each of `runs` calls of `fn`."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def percentiles(
    samples: Iterable[float],
    unit: str = "ms",
    pcts: Sequence[int] = (50, 99),
    digits: int = 4,
    mean: bool = False,
    maximum: bool = False,
) -> dict[str, float]:
    """{"p50_ms": ..., "p99_ms": ...} of `samples` (already in `unit`), plus mean and max on request."""
    a = np.asarray(list(samples), dtype=float)
    out = {f"p{p}_{unit}": round(float(np.percentile(a, p)), digits) for p in pcts}
    if mean:
        out[f"mean_{unit}"] = round(float(a.mean()), digits)
    if maximum:
        out[f"max_{unit}"] = round(float(a.max()), digits)
    return out


def scratch_dir(name: str) -> Path:
    """A fresh temporary directory `strikeiq-<name>-bench-*` (left behind for inspection)."""
    return Path(tempfile.mkdtemp(prefix=f"strikeiq-{name}-bench-"))


def scratch_sqlite(name: str) -> str:
    """The URL of a SQLite file in a fresh scratch directory."""
    return f"sqlite:///{scratch_dir(name) / 'bench.db'}"
