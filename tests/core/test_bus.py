"""SignalBus keeps the wall time each signal was published, and forgets it with the signal."""

from __future__ import annotations

import time

from core.bus import SignalBus
from core.domain import Signal


def make_signal(ts: float) -> Signal:
    return Signal(ts, "NIFTY", "LiquidityEngine", "LIQUIDITY_SWEEP", "UP", 0.7, 0.7, 0.5, 25_000.0)


def test_published_at_is_wall_time_and_evicted_with_the_signal():
    bus = SignalBus(signals_per_symbol=2)
    first, second, third = (make_signal(ts=1_000.0 + i) for i in range(3))
    before = time.time()
    bus.publish_signals([first, second])
    assert before <= bus.published_at(first.id) <= time.time()
    bus.publish_signals([third])
    assert bus.published_at(first.id) is None  # evicted from the ring with its signal
    assert bus.published_at(third.id) is not None
    assert bus.published_at("unknown") is None
