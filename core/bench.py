"""`python -m core bench`: every performance target of SPEC §11, measured in one run, as JSON."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from typing import Any

TARGETS = {
    "metrics": "p99 <= 5 ms (goal 2 ms) for 324 legs",
    "engines": "metrics + seven engines p99 <= 5 ms",
    "ingest": ">= 100000 ticks/s decode+apply in-process",
    "logger": ">= 20000 signals/s on PostgreSQL and >= 15x one-commit-per-row",
    "stats": "get_signal_statistics over 1000000 signals <= 300 ms on PostgreSQL",
    "page": "live page rerun <= 100 ms server time",
    "memory": "memory flat over a 1-hour simulated session",
    "backtest": "backtest end to end (replay, runtime, logger, scoring) >= 100000 leg ticks/s",
    "alerts": "rules cost the feed thread microseconds; deliveries and the Alerts page, measured",
}


def _metrics(db: str | None) -> dict:
    from core.analytics.bench import bench_metrics

    return bench_metrics()


def _engines(db: str | None) -> dict:
    from core.engines.bench import bench_cycle

    return bench_cycle()


def _ingest(db: str | None) -> dict:
    from core.feed.bench import bench_ingest

    out = bench_ingest()
    try:
        from core.feed.broker_bench import bench_decoders
    except ImportError:
        return out
    out["brokers"] = bench_decoders()
    return out


def _logger(db: str | None) -> dict:
    from core.storage.bench import bench_logger

    return bench_logger(db or _default_bench_db())


def _stats(db: str | None) -> dict:
    from core.storage.bench import bench_statistics

    return bench_statistics(db or _default_bench_db())


def _page(db: str | None) -> dict:
    """Live page rerun server time, measured by app.bench in its own process."""
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "app.bench"], capture_output=True, text=True, timeout=300, check=False
    )
    if run.returncode != 0:
        return {"error": run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"}
    return json.loads(run.stdout.strip().splitlines()[-1])


def _memory(db: str | None) -> dict:
    from core.runtime_bench import bench_memory

    return bench_memory()


def _backtest(db: str | None) -> dict:
    from core.backtest.bench import bench_backtest

    return bench_backtest(db)


def _alerts(db: str | None) -> dict:
    from core.alerts.bench import bench_alerts

    return bench_alerts()


def _default_bench_db() -> str:
    """A throwaway SQLite file unless a URL is given (PostgreSQL is what the targets are about)."""
    import tempfile

    return f"sqlite:///{tempfile.mkdtemp(prefix='strikeiq-bench-')}/bench.db"


BENCHMARKS: dict[str, Callable[[str | None], dict]] = {
    "metrics": _metrics,
    "engines": _engines,
    "ingest": _ingest,
    "logger": _logger,
    "stats": _stats,
    "page": _page,
    "memory": _memory,
    "backtest": _backtest,
    "alerts": _alerts,
}


def run_benchmarks(only: list[str] | None, db: str | None) -> dict[str, Any]:
    """Run the selected benchmarks (default: all but `stats`, which loads a million rows, and
    `backtest`, which replays the whole real corpus)."""
    names = only or ["metrics", "engines", "ingest", "logger", "page", "memory"]
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": _masked(db) if db else "temporary SQLite file",
    }
    for name in names:
        results[name] = {"target": TARGETS[name], **BENCHMARKS[name](db)}
    return results


def _masked(url: str) -> str:
    from core.config import mask_url

    return mask_url(url)
