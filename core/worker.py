"""Headless jobs behind the CLI: the worker, the simulator server, record, export, evaluate."""

from __future__ import annotations

import signal as os_signal
import sys
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from core.config import Config, mask_url
from core.runtime import Runtime


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT/SIGTERM end the wait so the worker can drain cleanly."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (os_signal.SIGINT, os_signal.SIGTERM):
        os_signal.signal(sig, lambda *_: stop.set())


def _wait(stop: threading.Event, duration: float | None, done: Any = None) -> None:
    """Until `stop` is set, `duration` wall seconds pass, or `done()` (the feed ended) is true."""
    deadline = time.monotonic() + duration if duration else None
    while not stop.is_set():
        if done is not None and done():
            return
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        stop.wait(0.2 if remaining is None else min(0.2, remaining))


def run_worker(config: Config, duration: float | None, publish_live_state: bool = False) -> dict[str, Any]:
    """Run the runtime headless; returns the JSON summary the CLI prints."""
    runtime = Runtime(config, publish_live_state=publish_live_state).start()
    stop = threading.Event()
    _stop_on_signals(stop)
    started = time.monotonic()
    _wait(stop, duration, done=lambda: not runtime.running)
    flushed = runtime.stop(timeout=30.0)
    health = runtime.health()
    feed, cycle, logger = health["feed"], health["cycle"], health["logger"]
    return {
        "feed": feed["describe"],
        "mode": feed["mode"],
        "run_id": runtime.run_id,
        "source": runtime.source,
        "database": mask_url(config.database_url),
        "wall_seconds": round(time.monotonic() - started, 2),
        "ticks": sum(v["ticks"] for v in health["state"]["symbols"].values()),
        "frames": feed["frames"],
        "rejected_frames": feed["rejected_total"],
        "rejected_by_reason": feed["rejected"],
        "metrics_cycles": cycle["cycles"],
        "cycle_failures": cycle["failures"],
        "snapshots": logger.get("snapshots_written", 0),
        "signals": cycle["signals"],
        "signals_by_engine": cycle["signals_by_engine"],
        "signals_written": logger.get("written", 0),
        "flushed": flushed,
        "learning": {k: health["learning"].get(k) for k in ("passes", "failures", "outcomes_written")},
        "alerts": {
            k: health["alerts"].get(k) for k in ("rules", "fired", "sent", "failed", "skipped", "dropped")
        },
    }


def serve_simulator(config: Config, host: str, port: int, duration: float | None) -> None:
    """Serve the simulated market over protocol v1 until interrupted or `duration` passes."""
    from core.feed.server import FeedServer
    from core.feed.simulator import Simulator

    server = FeedServer(host, port, Simulator(config.feed))
    server.start()
    print(f"serving {config.feed.symbols} on ws://{host}:{server.port} (Ctrl+C to stop)", file=sys.stderr)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        _wait(stop, duration)
    finally:
        server.stop()


def record_feed(config: Config, out: Path, duration: float) -> dict[str, Any]:
    """Record the configured feed to `out` for `duration` wall seconds, without a database."""
    from core.feed.factory import build_feed
    from core.feed.recorder import Recorder

    feed = build_feed(config)
    stop = threading.Event()
    _stop_on_signals(stop)
    with Recorder(out) as recorder:
        thread = threading.Thread(target=feed.run, args=(recorder, stop), daemon=True)
        thread.start()
        _wait(stop, duration, done=lambda: not thread.is_alive())
        stop.set()
        thread.join(10)
    return {"out": str(out), "feed": feed.describe(), "frames": recorder.frames, "items": recorder.items}


def export_signals(url: str, args: Any) -> int:
    """Write the filtered signal history as CSV to args.out (or stdout); returns the row count."""
    from datetime import datetime

    from core.storage.database import configure_database
    from core.storage.filters import SignalFilter
    from core.storage.queries import iter_signals_csv

    def when(value: str | None) -> datetime | None:
        if not value:
            return None
        dt = datetime.fromisoformat(value)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

    configure_database(url)
    flt = SignalFilter(
        start=when(args.since),
        end=when(args.until),
        symbols=tuple(s.strip().upper() for s in args.symbols.split(",")) if args.symbols else (),
        engines=tuple(e.strip() for e in args.engines.split(",")) if args.engines else (),
        min_confidence=args.min_confidence,
        run_id=getattr(args, "run", None),
        exclude_backtests=getattr(args, "exclude_backtests", False),
    )
    flt.validate()
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="")  # noqa: SIM115
    lines = 0
    try:
        for chunk in iter_signals_csv(flt):
            out.write(chunk)
            lines += chunk.count("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return max(0, lines - 1)


def evaluate_outcomes(url: str, progress: bool = True) -> dict[str, Any]:
    """Score every pending signal, prediction and smart-money row in the database at `url` and update
    formula_experience; returns the counts the CLI prints. SQLite is migrated first, as on start; a
    PostgreSQL database must already be at the head revision (`python -m core db upgrade`)."""
    from core.learning.evaluator import run_pass
    from core.storage.database import SessionLocal, configure_database, prepare_database

    prepare_database(url)
    engine = configure_database(url)
    started = time.monotonic()
    try:
        stats = run_pass(SessionLocal, progress=progress)
    finally:
        engine.dispose()
    return {"database": mask_url(url), **stats, "wall_seconds": round(time.monotonic() - started, 2)}
