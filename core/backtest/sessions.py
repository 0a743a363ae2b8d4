"""Replay recordings through the real runtime path as fast as possible, one run per recording.

A recording is one session (a symbol's trading day, or several symbols' day). It is replayed by a
`Runtime` driven by hand, exactly as the feed thread would drive it (`runtime.on_items(batch)` per
recorded batch), with the SignalLogger storing signals, market snapshots, predictions and
smart-money rows, every row stamped with the run's `run_id` and `source`. One run per file, so
each signal is later scored against its own session's price path and two sessions never mix.

The logger's writer thread is not started: the replay writes what the logger queued itself, every
WRITE_EVERY_BATCHES batches and at the end, in large transactions. Nothing reads the rows back
before the run is scored, and a writer thread would only take turns with the replay for the GIL
(each hand-over costing the replay up to a switch interval on a busy machine).

Work a backtest does not need is switched off by configuration, never by a second code path:
metrics only for the default expiry (the UI's expiry pickers are not there), and by default one
option-chain snapshot per session instead of one a minute (the runtime always writes the first;
`chain_snapshots=True` keeps the live cadence). Writing them costs the logger more than
everything else it stores. Engines, state, metrics of the default expiry and the stored spot path are the live ones.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from core.config import KNOWN_SYMBOLS, Config
from core.domain import FeedItem, InstrumentInfo, Tick
from core.errors import ConfigError, StorageError
from core.feed.base import FeedStats
from core.feed.replay import ReplayFeed, iter_batches
from core.runtime import Runtime

RECORDING_SUFFIXES = (".jsonl.gz", ".jsonl")
# How many batches to read from the start of a recording to learn its symbols when it has no
# instrument lines (the simulator's recordings start with ticks).
SYMBOL_SCAN_BATCHES = 50
# The replay writes what its logger queued every this many batches, itself: no writer thread.
WRITE_EVERY_BATCHES = 100
# Where a replay's CPU time goes: reading the recording (gunzip, JSON, ticks), Runtime.on_items (state,
# metrics, engines, queueing rows) and writing the rows; the rest of cpu_s is setup and teardown.
STAGES = ("decode", "runtime", "writes")


@dataclass(frozen=True, slots=True)
class SessionRun:
    """One replayed recording: its run, what went in and what came out."""

    path: Path
    run_id: str
    symbols: tuple[str, ...]
    items: int  # decoded feed items (ticks of legs and underlyings, instrument and status lines)
    leg_ticks: int
    signals: int
    cycles: int
    cycle_failures: int
    rejected: int  # malformed lines, counted by reason in the feed stats
    wall_s: float
    cpu_s: float  # CPU time of the process while it replayed this recording (one recording at a time)
    stage_cpu_s: Mapping[str, float]  # cpu_s by STAGES

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.path.name,
            "run_id": self.run_id,
            "symbols": list(self.symbols),
            "items": self.items,
            "leg_ticks": self.leg_ticks,
            "signals": self.signals,
            "cycles": self.cycles,
            "cycle_failures": self.cycle_failures,
            "rejected_lines": self.rejected,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "stage_cpu_s": {stage: round(s, 3) for stage, s in self.stage_cpu_s.items()},
            "leg_ticks_per_s": round(self.leg_ticks / self.wall_s) if self.wall_s > 0 else None,
        }


def recording_files(paths: Iterable[str | Path]) -> list[Path]:
    """The recordings named by `paths`: a file as it is, a directory as its *.jsonl.gz and *.jsonl
    files (sorted by name). A missing path or an empty directory is a ConfigError."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(RECORDING_SUFFIXES))
            if not found:
                raise ConfigError(f"{path} holds no *.jsonl.gz or *.jsonl recordings")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ConfigError(f"{path}: no such recording or directory")
    return out


def recording_symbols(path: Path) -> tuple[str, ...]:
    """The symbols a recording is about: its instrument lines, else the symbols of its first ticks,
    else the file name's prefix (SYMBOL_DATE_source.jsonl.gz). Only symbols StrikeIQ knows."""
    found: dict[str, None] = {}
    for batch in _first_batches(path):
        instruments = [i.symbol for i in batch if type(i) is InstrumentInfo]
        found.update(dict.fromkeys(instruments or [i.symbol for i in batch if type(i) is Tick]))
        if any(type(i) is Tick for i in batch):
            break
    if not found:
        found[path.name.split("_", 1)[0].upper()] = None
    symbols = tuple(s for s in found if s in KNOWN_SYMBOLS)
    if not symbols:
        raise ConfigError(
            f"{path.name}: no known symbol ({', '.join(found)}); StrikeIQ knows {KNOWN_SYMBOLS}"
        )
    return symbols


def _first_batches(path: Path) -> Iterator[list[FeedItem]]:
    batches = iter_batches(path, FeedStats())
    try:
        for _, batch in zip(range(SYMBOL_SCAN_BATCHES), batches, strict=False):
            yield batch
    finally:
        batches.close()


def session_config(
    base: Config, path: Path, symbols: tuple[str, ...], spill_dir: Path, chain_snapshots: bool = False
) -> Config:
    """`base` replaying `path` as fast as possible for `symbols`, its spill journal in `spill_dir`
    (not the data directory's: a live run's journal must not be replayed into a backtest)."""
    feed = replace(base.feed, kind="replay", url=str(path), symbols=symbols, speed=0.0)
    logger = replace(base.logger, spill_path=str(spill_dir / f"{path.name}.spill.jsonl"))
    analytics = base.analytics
    if not chain_snapshots:
        analytics = replace(analytics, chain_snapshot_interval_s=math.inf)
    return replace(base, feed=feed, logger=logger, analytics=analytics)


def replay_session(
    path: Path,
    base: Config,
    run_id: str,
    source: str,
    *,
    progress: bool = True,
    chain_snapshots: bool = False,
    stop_timeout_s: float = 120.0,
) -> SessionRun:
    """Replay `path` into `base.database_url` as run `run_id`; returns once every row is stored.

    The database must already be at the head migration. Raises StorageError when the logger could
    not store everything (signals left in the temporary spill journal, snapshots dropped)."""
    symbols = recording_symbols(path)
    with tempfile.TemporaryDirectory(prefix="strikeiq-backtest-") as spill_dir:
        config = session_config(base, path, symbols, Path(spill_dir), chain_snapshots)
        started, cpu_started = time.perf_counter(), time.process_time()
        feed = ReplayFeed(path, 0.0)
        runtime = Runtime(config, feed, run_id=run_id, source=source, all_expiries=False, migrate=False)
        stats = FeedStats()
        items = legs = 0
        bar = tqdm(desc=path.name, unit=" legs", unit_scale=True, file=sys.stderr, disable=not progress)
        stage = _StageClock()
        try:
            for n, batch in enumerate(iter_batches(path, stats), 1):
                stage.lap("decode")
                runtime.on_items(batch)
                stage.lap("runtime")
                if n % WRITE_EVERY_BATCHES == 0:
                    runtime.logger.write_queued()
                    stage.lap("writes")
                n_legs = sum(1 for item in batch if type(item) is Tick and item.right is not None)
                items += len(batch)
                legs += n_legs
                bar.update(n_legs)
        finally:
            stage.lap("decode")
            flushed = runtime.stop(stop_timeout_s)  # final snapshot per symbol, then drain the logger
            stage.lap("writes")
            bar.close()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        logger = runtime.logger.stats()
    # A spilled signal or snapshot (a hole in the price path until replayed) would skew the scorecard.
    if not flushed or logger["spill_lines"] or logger["spilled"]:
        raise StorageError(
            f"{path.name}: the database did not take every row (flushed={flushed}, "
            f"spilled={logger['spilled']}, "
            f"last error: {logger.get('last_error') or 'none'})"
        )
    cycle = runtime.health()["cycle"]
    rejected = sum(stats.rejected.values())
    return SessionRun(
        path,
        run_id,
        symbols,
        items,
        legs,
        cycle["signals"],
        cycle["cycles"],
        cycle["failures"],
        rejected,
        wall,
        cpu,
        stage.seconds,
    )


class _StageClock:
    """CPU seconds per stage of one replay; `lap(stage)` books the time since the previous lap."""

    __slots__ = ("seconds", "_last")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._last = time.process_time()

    def lap(self, stage: str) -> None:
        now = time.process_time()
        self.seconds[stage] += now - self._last
        self._last = now
