"""`python -m core bench`: one registry behind the command line, JSON keyed by benchmark, and page
benchmarks that run the dashboard in this process and leave the process as they found it."""

from __future__ import annotations

import importlib
import os
import threading

import pytest

from core.__main__ import parser
from core.bench import MODULES, TARGETS, run_benchmarks
from core.bench.common import percentiles, time_ms


def test_every_benchmark_has_a_module_with_run_and_a_command_line_choice():
    assert set(MODULES) == set(TARGETS)
    for name in TARGETS:
        assert callable(importlib.import_module(f"core.bench.{MODULES[name]}").run), name
    args = parser().parse_args(["bench", *(a for name in TARGETS for a in ("--only", name))])
    assert args.only == list(TARGETS)


def test_run_benchmarks_keys_results_by_name_with_the_target(monkeypatch):
    import core.bench.cycle
    import core.bench.metrics

    monkeypatch.setattr(core.bench.metrics, "run", lambda db: {"p99_ms": 1.0, "db": db})
    monkeypatch.setattr(core.bench.cycle, "run", lambda db: {"cycle": {}})
    out = run_benchmarks(["metrics", "engines"], "sqlite:///x.db")
    assert list(out) == ["machine", "database", "metrics", "engines"]
    assert out["metrics"] == {"target": TARGETS["metrics"], "p99_ms": 1.0, "db": "sqlite:///x.db"}
    assert out["engines"]["target"] == TARGETS["engines"]


def test_percentiles_name_their_unit_and_round():
    assert percentiles([1.0, 2.0, 3.0], "us", digits=1, mean=True, maximum=True) == {
        "p50_us": 2.0, "p99_us": 3.0, "mean_us": 2.0, "max_us": 3.0,
    }  # fmt: skip
    assert len(time_ms(lambda: None, 3)) == 3


def _runtime_threads() -> set[str]:
    names = ("strikeiq-", "signal-logger")
    return {t.name for t in threading.enumerate() if t.name.startswith(names)}


@pytest.mark.slow
@pytest.mark.parametrize("page", ["intraday", "alerts"])
def test_page_benchmarks_run_in_process_and_leave_the_process_as_they_found_it(page, monkeypatch):
    """The Intraday page as a database replica, the Alerts page beside a simulator: each stops the
    runtime its page started and restores the environment it set."""
    from core.bench.alerts import bench_alerts_page
    from core.bench.intraday import bench_intraday_page

    monkeypatch.delenv("STRIKEIQ_LIVE_SOURCE", raising=False)
    names = ("DATABASE_URL", "STRIKEIQ_DATA_DIR", "STRIKEIQ_LIVE_SOURCE", "STRIKEIQ_FEED", "STRIKEIQ_SPEED")
    before = {k: os.environ.get(k) for k in names}
    threads = _runtime_threads()
    out = bench_intraday_page(reruns=1) if page == "intraday" else bench_alerts_page(reruns=1)
    assert out["reruns"] == 1 and out["p50_ms"] > 0
    if page == "intraday":
        assert out["market_snapshots"] > 4_000 and out["chain_rows"] > 0 and out["first_run_ms"] > 0
    else:
        assert out["rules"] == 20 and out["exceptions"] == 0
    assert {k: os.environ.get(k) for k in names} == before
    assert _runtime_threads() <= threads
