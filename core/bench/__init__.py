"""`python -m core bench`: every performance target of SPEC §11, measured in one run, as JSON.

One module per benchmark, each with `run(db) -> dict` (`db`: the `--db` URL or None); `common.py`
holds the timing and scratch-database helpers they share. The page benchmarks (`page`, the Alerts
page inside `alerts`, `intraday`) drive the dashboard in this process through Streamlit's AppTest,
which loads `app/main.py` by path.
"""

from __future__ import annotations

import importlib
import os
import platform
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
    "intraday": "Intraday page first run and reruns over a full stored session, measured",
}
MODULES = {name: name for name in TARGETS} | {"engines": "cycle"}  # benchmark -> core.bench module
DEFAULT = ("metrics", "engines", "ingest", "logger", "page", "memory")


def run_benchmarks(only: list[str] | None, db: str | None) -> dict[str, Any]:
    """Run the selected benchmarks (default: all but `stats`, which loads a million rows, `backtest`,
    which replays the whole real corpus, `alerts` and `intraday`)."""
    from core.config import mask_url

    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": mask_url(db) if db else "temporary SQLite file",
    }
    for name in only or DEFAULT:
        module = importlib.import_module(f"{__name__}.{MODULES[name]}")
        results[name] = {"target": TARGETS[name], **module.run(db)}
    return results
