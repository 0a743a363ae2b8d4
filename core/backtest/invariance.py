"""Delivery invariance: the same recording replayed as whole snapshots and re-timed leg by leg as a
broker streams it must give the same signals (same engine, signal and direction within 3 minutes).

`python -m core invariance FILE...` prints the figure per session; the test suite holds it at 90 %.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.backtest.sessions import recording_symbols
from core.config import Config, load_config
from core.domain import FeedItem, Signal
from core.feed.base import FeedStats
from core.feed.replay import ReplayFeed, iter_batches
from core.feed.retime import broker_stream
from core.runtime import Runtime

TOLERANCE_S = 180.0
SignalKey = tuple[float, str, str, str]  # (event ts, engine, signal, direction)


@dataclass(frozen=True, slots=True)
class Invariance:
    """One session's comparison: how many signals each delivery gave and how many agree."""

    session: str
    snapshot_signals: int
    streamed_signals: int
    matched: int
    seed: int

    @property
    def agreement(self) -> float:
        """Matched pairs over the larger of the two counts (1.0 when neither delivery signalled)."""
        larger = max(self.snapshot_signals, self.streamed_signals)
        return self.matched / larger if larger else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "seed": self.seed,
            "snapshot_signals": self.snapshot_signals,
            "streamed_signals": self.streamed_signals,
            "matched": self.matched,
            "agreement": round(self.agreement, 4),
        }


def replay_signals(
    path: str | Path, retime_seed: int | None = None, config: Config | None = None
) -> list[SignalKey]:
    """Every signal the runtime emits on the recording, as whole snapshots or (with a seed)
    re-timed as a broker stream. No database is written: the runtime is driven by hand."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="strikeiq-invariance-") as tmp:
        base = config or load_config(env={"STRIKEIQ_DATA_DIR": tmp})
        symbols = recording_symbols(path)
        cfg = replace(
            base,
            feed=replace(base.feed, kind="replay", url=str(path), symbols=symbols),
            database_url=f"sqlite:///{tmp}/invariance.db",
        )
        runtime = Runtime(cfg, feed=ReplayFeed(path, speed=0.0), all_expiries=False)
        batches: Iterable[list[FeedItem]] = iter_batches(path, FeedStats())
        if retime_seed is not None:
            batches = broker_stream(batches, seed=retime_seed)
        for batch in batches:
            runtime.on_items(batch)
        signals: Sequence[Signal] = runtime.bus.signals(limit=1_000_000)
        runtime.engine.dispose()
    return sorted((s.ts, s.engine, s.signal, s.direction) for s in signals)


def matched_pairs(a: Sequence[SignalKey], b: Sequence[SignalKey], tolerance_s: float = TOLERANCE_S) -> int:
    """One-to-one matches: same engine, signal and direction, event times within the tolerance,
    each signal of `b` used once (greedy in time order, nearest first)."""
    used: set[int] = set()
    matched = 0
    for ts, *key in a:
        best, best_dt = None, tolerance_s
        for j, (tb, *kb) in enumerate(b):
            if j not in used and kb == key and abs(tb - ts) <= best_dt:
                best, best_dt = j, abs(tb - ts)
        if best is not None:
            used.add(best)
            matched += 1
    return matched


def compare(path: str | Path, seed: int = 1) -> Invariance:
    snap = replay_signals(path)
    streamed = replay_signals(path, retime_seed=seed)
    return Invariance(Path(path).name, len(snap), len(streamed), matched_pairs(snap, streamed), seed)
