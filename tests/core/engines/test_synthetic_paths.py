"""Whole-pipeline scenarios at 1 s: each phenomenon fires its engine once; a calm tape fires none."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.domain import LiveMetrics
from core.engines.pipeline import EnginePipeline
from tests.core.engines.builders import T0, calm_path, chain, ramp, realistic

EVENT_ENGINES = {
    "LiquidityEngine",
    "StoplossHuntEngine",
    "GammaSqueezeEngine",
    "OptionsTrapEngine",
    "LiquidityVacuumEngine",
}
PRE = 900  # 15 calm minutes: enough history for the 1-minute sigma and the level windows


def run(metrics: list[LiveMetrics]) -> list[tuple[float, str, str]]:
    pipe = EnginePipeline()
    signals = [s for m in metrics for s in pipe.evaluate(m).signals]
    for s in signals:  # features go to a JSON column: plain, finite values only
        json.dumps(s.features, allow_nan=False)
    return [(s.ts - T0, s.engine, s.signal) for s in signals]


def events(signals, engine: str) -> list[str]:
    return [sig for _, eng, sig in signals if eng == engine]


@pytest.mark.slow
def test_calm_hour_fires_no_event_engine():
    signals = run(realistic(calm_path(3600, seed=0)))
    assert [s for s in signals if s[1] in EVENT_ENGINES] == []
    # NEUTRAL is a state, not a signal: the calm hour signals only its dealer-gamma regime.
    assert {s[2] for s in signals} == {"LONG_GAMMA"}


def test_sweep_of_support_fires_one_sweep_up():
    calm = np.clip(calm_path(PRE, start=24960.0, sigma_1m=0.0003), 24930.0, None)
    path = np.r_[calm, ramp(calm[-1], 24860.0, 40), ramp(24860.0, 24950.0, 60), np.full(300, 24950.0)]
    signals = run(realistic(path))
    sweeps = [s for s in signals if s[1] == "LiquidityEngine"]
    assert [s[2] for s in sweeps] == ["SWEEP_UP"]
    assert PRE + 40 < sweeps[0][0] <= PRE + 100  # fired on the reclaim, not before the pierce


def test_stop_hunt_above_resistance_fires_hunt_down():
    calm = np.clip(calm_path(PRE, start=25050.0), None, 25080.0)
    top = calm[-1]
    path = np.r_[calm, ramp(top, top + 110, 25), ramp(top + 110, top + 20, 120), np.full(300, top + 20)]
    signals = run(realistic(path, per_step=lambda i, _: {"vol_spike_ratio": 2.4 if i > PRE else 1.0}))
    assert events(signals, "StoplossHuntEngine") == ["HUNT_DOWN"]
    assert "HUNT_UP" not in events(signals, "StoplossHuntEngine")


def test_gamma_squeeze_up_through_short_gamma_into_the_call_wall():
    calm = calm_path(PRE, start=24950.0)
    path = np.r_[calm, ramp(calm[-1], 25110.0, 300), np.full(120, 25110.0)]
    calls = {k: 1.25e6 for k in (25000.0, 25050.0, 25100.0)}

    def step(i: int, _s: float) -> dict:
        buying = chain(call_oi=calls, call_ltp={k: 140.0 for k in calls}) if i >= PRE + 180 else chain()
        return {**buying, "vol_spike_ratio": 1.7 if i > PRE + 60 else 1.0}

    metrics = realistic(path, per_step=step, net_gex=-1.5e9, gamma_flip=25150.0, call_wall=25100.0)
    signals = run(metrics)
    assert events(signals, "GammaSqueezeEngine") == ["SQUEEZE_UP"]


def test_bull_trap_breakout_that_fails_back_under_resistance():
    calm = np.clip(calm_path(PRE, start=25060.0, sigma_1m=0.0003), None, 25090.0)
    path = np.r_[calm, ramp(calm[-1], 25170.0, 120), np.full(150, 25170.0), ramp(25170.0, 25060.0, 120)]
    path = np.r_[path, np.full(200, 25060.0)]

    def step(i: int, _s: float) -> dict:
        # Writers sell the breakout strike's calls while price is above it.
        return chain(call_oi={25100.0: 1.4e6}, call_ltp={25100.0: 60.0}) if i >= PRE + 200 else chain()

    signals = run(realistic(path, per_step=step, resistance_walls=((25100.0, 2e6),)))
    assert events(signals, "OptionsTrapEngine") == ["BULL_TRAP"]


def test_liquidity_vacuum_down_in_a_thin_book():
    calm = calm_path(PRE, start=25000.0)
    path = np.r_[calm, ramp(calm[-1], calm[-1] * 0.996, 45), np.full(120, calm[-1] * 0.996)]

    def step(i: int, _s: float) -> dict:
        thin = PRE <= i <= PRE + 90
        return {"depth_ratio": 0.25 if thin else 1.0, "spread_ratio": 2.6 if thin else 1.0}

    signals = run(realistic(path, per_step=step))
    assert events(signals, "LiquidityVacuumEngine") == ["LIQUIDITY_VACUUM_DOWN"]
