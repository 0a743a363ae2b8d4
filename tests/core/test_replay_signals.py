"""A recorded session replayed through the runtime gives exactly the signals of the live run."""

from __future__ import annotations

from dataclasses import replace

from core.config import FeedConfig, load_config
from core.feed.base import FeedStats
from core.feed.recorder import Recorder
from core.feed.replay import ReplayFeed, iter_batches
from core.feed.simulator import Simulator
from core.runtime import Runtime


def signals_of(runtime: Runtime) -> list[tuple]:
    return sorted(
        (s.ts, s.symbol, s.engine, s.signal, s.direction, round(s.raw_score, 12), s.spot_price)
        for s in runtime.bus.signals(limit=10_000)
    )


def test_replay_reproduces_the_live_signals(tmp_path):
    base = load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)})
    feed = FeedConfig(symbols=("NIFTY", "BANKNIFTY"), scenario="demo", seed=7, speed=0.0,
                      start="2026-11-25T09:15:00+05:30", warmup_s=300.0)  # fmt: skip
    config = replace(base, feed=feed, database_url=f"sqlite:///{tmp_path / 'live.db'}")
    sim = Simulator(feed)
    live = Runtime(config, feed=sim)  # driven by hand: no threads, no database writes needed
    path = tmp_path / "session.jsonl.gz"
    with Recorder(path, inner=live) as recorder:
        for batch in sim.batches(until_ts=sim.script_start_ts + 300):  # the demo's spikes
            recorder.on_items(batch)
    recorded = signals_of(live)
    assert len({(s[2], s[3]) for s in recorded}) >= 6  # the demo shows many engines' signals

    replay_config = replace(config, database_url=f"sqlite:///{tmp_path / 'replay.db'}")
    replayed = Runtime(replay_config, feed=ReplayFeed(path, speed=0.0))
    stats = FeedStats()
    for batch in iter_batches(path, stats):
        replayed.on_items(batch)
    assert sum(stats.rejected.values()) == 0
    assert signals_of(replayed) == recorded
