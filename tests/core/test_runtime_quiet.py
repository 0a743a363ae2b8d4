"""A chain the metrics interval held back is cycled once the feed goes quiet (Runtime.on_items)."""

from __future__ import annotations

from dataclasses import replace

from core.config import FeedConfig, load_config
from core.domain import LiveMetrics
from core.feed.simulator import Simulator
from core.runtime import Runtime


def _runtime(tmp_path) -> tuple[Runtime, Simulator]:
    base = load_config(env={"STRIKEIQ_DATA_DIR": str(tmp_path)})
    feed = FeedConfig(symbols=("NIFTY",), scenario="calm", seed=3, speed=0.0, delivery="sync",
                      start="2026-11-25T10:15:00+05:30", warmup_s=0.0)  # fmt: skip
    config = replace(base, feed=feed, database_url=f"sqlite:///{tmp_path / 'rt.db'}")
    sim = Simulator(config.feed)
    return Runtime(config, feed=sim), sim


def test_the_last_legs_of_a_burst_are_read_before_the_next_batch_after_a_quiet_gap(tmp_path):
    runtime, sim = _runtime(tmp_path)
    seen: list[LiveMetrics] = []
    evaluate = runtime.pipeline.evaluate
    runtime.pipeline.evaluate = lambda m: seen.append(m) or evaluate(m)  # type: ignore[method-assign]
    batch = [i for b in sim.batches(until_ts=sim.start_ts + 30) for i in b]
    runtime.on_items(batch)
    items = [i for i in batch if hasattr(i, "ts")]  # ticks (not the instrument info)
    last = max(i.ts for i in items)
    leg = next(i for i in items if getattr(i, "strike", None) == items[-1].strike and i.right == "CE")
    spot = next(i for i in items if getattr(i, "strike", "x") is None)
    # A leg 0.4 s after that cycle: inside the metrics interval, so it waits.
    runtime.on_items([replace(leg, ts=last + 0.4, oi=(leg.oi or 0.0) + 6500.0)])
    assert len(seen) == 1
    # Five quiet minutes, then the next spot move: the held-back chain is cycled first, as of its
    # own time, with the leg; then the new batch.
    runtime.on_items([replace(spot, ts=last + 300.0, ltp=spot.ltp * 1.001)])
    assert [m.ts for m in seen] == [last, last + 0.4, last + 300.0]
    k = list(seen[1].strikes).index(leg.strike)
    assert seen[1].call_oi[k] == seen[0].call_oi[k] + 6500.0
    assert seen[1].spot == seen[0].spot != seen[2].spot


def test_a_steady_stream_is_cycled_on_arrival_as_before(tmp_path):
    runtime, sim = _runtime(tmp_path)
    seen: list[float] = []
    evaluate = runtime.pipeline.evaluate
    runtime.pipeline.evaluate = lambda m: seen.append(m.ts) or evaluate(m)  # type: ignore[method-assign]
    batches = list(sim.batches(until_ts=sim.start_ts + 20))
    for batch in batches:
        runtime.on_items(batch)
    # Batches every half second: one cycle a second, each on the batch that arrived, none extra.
    assert all(b - a >= 1.0 for a, b in zip(seen, seen[1:], strict=False))
    arrived = {max(i.ts for i in b if hasattr(i, "ts")) for b in batches if any(hasattr(i, "ts") for i in b)}
    assert seen and set(seen) <= arrived
