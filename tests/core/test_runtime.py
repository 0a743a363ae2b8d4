"""Runtime lifecycle: start is idempotent, stop drains once and is safe to repeat."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import sqlalchemy as sa

from core.config import FeedConfig, load_config
from core.live import LiveSource, LiveView
from core.runtime import Runtime


@pytest.fixture
def runtime(tmp_path):
    config = load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)})
    config = replace(config, feed=FeedConfig(symbols=("NIFTY",), speed=0.0, scenario="calm"))
    return Runtime(config)


def wait_for_cycles(runtime: Runtime, n: int, timeout: float = 30.0) -> None:
    """The feed thread runs freely at speed 0; poll its counter (no event to wait on here)."""
    deadline = time.monotonic() + timeout
    while runtime.health()["cycle"]["cycles"] < n:
        assert time.monotonic() < deadline, "no metrics cycles"
        threading.Event().wait(0.05)


def test_start_is_idempotent_and_stop_drains_once(runtime):
    assert runtime.start() is runtime.start()
    assert runtime.running
    wait_for_cycles(runtime, 20)
    assert runtime.stop(timeout=30.0) is True
    assert not runtime.running
    with runtime.engine.connect() as conn:
        snapshots = conn.execute(sa.text("SELECT COUNT(*) FROM market_snapshots")).scalar_one()
    assert snapshots > 0
    assert runtime.stop() is True  # the atexit hook calling again is harmless
    with pytest.raises(RuntimeError, match="cannot start again"):
        runtime.start()


def test_a_runtime_is_the_live_source_the_pages_read(runtime):
    assert isinstance(runtime, LiveSource)
    view = runtime.view("NIFTY")
    assert isinstance(view, LiveView) and view.symbol == "NIFTY" and view.feed_mode == "SIMULATED"
    assert runtime.run_id and runtime.symbols == ("NIFTY",)


def test_health_reports_every_subsystem(runtime):
    runtime.start()
    try:
        health = runtime.health()
    finally:
        runtime.stop(timeout=30.0)
    assert {"feed", "state", "cycle", "engines", "logger", "learning", "database"} <= set(health)
    assert health["feed"]["mode"] == "SIMULATED"
