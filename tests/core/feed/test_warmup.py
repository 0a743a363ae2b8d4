"""Simulator warm-up: every session opens with FeedConfig.warmup_s of the scenario's baseline market
before its script starts, and Simulator.run delivers a warm-up unpaced."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime

import pytest

from core.clock import IST
from core.config import FeedConfig
from core.domain import FeedStatus, Tick
from core.feed import market_model as mm
from core.feed.simulator import Simulator
from core.market_calendar import MarketCalendar

CAL = MarketCalendar.default()
MODES = ("broker", "sync")


def make_sim(script: mm.Scenario | None = None, **config) -> Simulator:
    feed = FeedConfig(**{"speed": 0.0, "seed": 11, "symbols": ("NIFTY",), **config})
    return Simulator(feed, CAL, today=date(2026, 12, 2), scenario=script)


class ScriptClock:
    """A scenario that only records when the simulator says its script starts."""

    name = "script-clock"
    fixed_regime = "calm"

    def __init__(self) -> None:
        self.script_starts: set[float] = set()

    def adjust(self, symbol: str, ts: float, spot: float, state: mm.StepState) -> None:
        self.script_starts.add(state.market.script_start)


@pytest.mark.parametrize("mode", MODES)
def test_every_session_opens_with_a_warm_up_before_the_script(mode):
    clock = ScriptClock()
    sim = make_sim(clock, start="2026-11-23T15:20:00", warmup_s=120.0, delivery=mode)
    assert sim.script_start_ts == sim.start_ts + 120.0
    next_open = datetime(2026, 11, 25, 9, 15, tzinfo=IST).timestamp()  # 2026-11-24 is a holiday
    for _ in sim.batches(until_ts=next_open + 60):
        pass
    assert clock.script_starts == {sim.start_ts + 120.0, next_open + 120.0}


def test_the_warm_up_is_the_scenario_baseline_market_then_the_script_runs():
    scripted = make_sim(scenario="liquidity_sweep_support", warmup_s=300.0)
    calm = make_sim(scenario="calm", warmup_s=300.0)
    scripted_run = list(scripted.batches(until_ts=scripted.script_start_ts + 300.0))
    calm_run = list(calm.batches(until_ts=calm.script_start_ts + 300.0))
    warm = sum(1 for b in scripted_run if max(t.ts for t in b if type(t) is Tick) < scripted.script_start_ts)
    assert warm > 100 and scripted_run[:warm] == calm_run[:warm]  # the same calm market
    assert scripted_run[warm:] != calm_run[warm:]  # until the script starts


class Sink:
    """Notes when each batch arrived; stops the feed once event time passes `stop_ts`."""

    def __init__(self, stop: threading.Event, stop_ts: float) -> None:
        self.stop, self.stop_ts = stop, stop_ts
        self.arrived: list[tuple[float, float]] = []  # (event ts, wall time)

    def on_items(self, items) -> None:
        ts = max(t.ts for t in items if type(t) is Tick)
        self.arrived.append((ts, time.monotonic()))
        if ts >= self.stop_ts:
            self.stop.set()

    def on_status(self, status: FeedStatus) -> None:
        pass


@pytest.mark.parametrize("mode", MODES)
def test_run_delivers_the_warm_up_at_once_and_paces_the_script_from_its_start(mode):
    """At 1x, ten simulated minutes of warm-up arrive in a moment; the script then runs in real time."""
    sim, stop = make_sim(speed=1.0, warmup_s=600.0, delivery=mode), threading.Event()
    sink = Sink(stop, sim.script_start_ts + 2.0)
    began = time.monotonic()
    sim.run(sink, stop)
    first_script = next(wall for ts, wall in sink.arrived if ts >= sim.script_start_ts)
    assert sink.arrived[0][0] == sim.start_ts and first_script - began < 30.0  # 600 s, unpaced
    assert sink.arrived[-1][1] - first_script > 1.5  # two event seconds of script at 1x
