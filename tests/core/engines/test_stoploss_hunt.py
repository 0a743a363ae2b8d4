"""StoplossHuntEngine rules: a 3-sigma spike through a level, its retracement, and the context rules."""

from __future__ import annotations

import numpy as np
import pytest

from core.engines.history import EngineHistory
from core.engines.stoploss_hunt import StoplossHuntEngine, StoplossHuntParams
from tests.core.engines.builders import calm_path, chain, make_metrics, ramp, run

ENGINE = StoplossHuntEngine()
BASE = make_metrics(support=25000.0, resistance=25150.0)
PRE = 1800


def hunt_path(depth: float = 90.0, fall_s: int = 30, back: float = 60.0) -> np.ndarray:
    """Calm tape near 25040 (1-minute sigma 0.04 %), a fall of `depth` points, a rebound of `back`."""
    calm = np.clip(calm_path(PRE, start=25040.0), 25010.0, 25120.0)
    top = calm[-1]
    return np.r_[calm, ramp(top, top - depth, fall_s), ramp(top - depth, top - depth + back, 90)]


def test_down_spike_through_support_then_retraced_fires_hunt_up():
    result, _, _ = run(ENGINE, hunt_path(), base=BASE)
    assert result.active and result.signal == "HUNT_UP" and result.direction == "UP"
    assert result.reasons == ("spike_through_level", "retraced")
    assert result.raw_score == pytest.approx(0.60)
    assert result.features["up_spike_sigmas"] >= 3 and result.features["up_level"] == 25000.0


def test_spike_without_retracement_stays_below_threshold():
    result, _, _ = run(ENGINE, hunt_path(back=30.0), base=BASE, vol_spike_ratio=3.0)
    assert not result.active and result.raw_score == pytest.approx(0.35)
    assert 0.25 < result.features["up_retrace"] < 0.6


def test_slow_decline_is_not_a_spike():
    result, _, _ = run(ENGINE, hunt_path(fall_s=240), base=BASE)
    assert not result.active and result.raw_score == 0
    assert result.features["up_spike_sigmas"] < 3


def test_spike_that_crosses_no_level_is_ignored():
    result, _, _ = run(ENGINE, hunt_path(), base=make_metrics(support=24900.0, resistance=25150.0))
    assert not result.active and result.features["up_level"] is None


def test_context_rules_add_their_weights():
    def step(i: int, _spot: float) -> dict:
        # OI leaving the strikes around the level once the spike hits: stops filled, longs out.
        return chain(put_oi={25000.0: 8e5, 24950.0: 9e5}) if i >= PRE + 20 else chain()

    result, _, _ = run(
        ENGINE, hunt_path(), base=BASE, per_step=step, vol_spike_ratio=2.5, expected_move=300.0
    )
    assert result.reasons == (
        "spike_through_level",
        "retraced",
        "vol_spike",
        "oi_drop_near_level",
        "expected_move_gt_1pct",
    )
    assert result.raw_score == pytest.approx(1.0)


def test_spike_threshold_is_a_parameter():
    strict = StoplossHuntParams.params_from({"spike_sigmas": 40.0})
    result, _, _ = run(ENGINE, hunt_path(), base=BASE, params=strict)
    assert not result.active


def test_up_spike_through_resistance_fires_hunt_down():
    calm = np.clip(calm_path(PRE, start=25110.0), 25060.0, 25140.0)
    top = calm[-1]
    path = np.r_[calm, ramp(top, top + 90, 30), ramp(top + 90, top + 30, 90)]
    result, _, _ = run(ENGINE, path, base=BASE)
    assert result.signal == "HUNT_DOWN" and result.direction == "DOWN"
    assert result.features["down_level"] == 25150.0


def test_missing_history_or_fields_never_crash():
    assert not ENGINE.evaluate(make_metrics(spot=None), EngineHistory("NIFTY")).active
    h = EngineHistory("NIFTY")
    h.update(make_metrics())
    assert not ENGINE.evaluate(make_metrics(vol_spike_ratio=None, expected_move=None), h).active
