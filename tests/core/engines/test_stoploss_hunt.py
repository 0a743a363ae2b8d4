"""StoplossHuntEngine rules: a 3-sigma spike through a level, its retracement, and the context rules."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.engines.history import EngineHistory
from core.engines.pipeline import EnginePipeline
from core.engines.stoploss_hunt import StoplossHuntEngine, StoplossHuntParams
from tests.core.engines.builders import T0, calm_path, chain, make_metrics, ramp, run, stamped

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


def hunt_then_opposite_hunt() -> np.ndarray:
    """A flush through support retraced (HUNT_UP), then within five minutes a spike through
    resistance, retraced too (HUNT_DOWN): both patterns completed inside one window."""
    down = hunt_path()
    low_back = down[-1]
    return np.r_[down, ramp(low_back, 25200.0, 30), ramp(25200.0, 25080.0, 60), np.full(30, 25080.0)]


def test_the_later_completed_hunt_wins_over_an_older_opposite_one():
    result, _, _ = run(ENGINE, hunt_then_opposite_hunt(), base=BASE)
    assert result.signal == "HUNT_DOWN" and result.features["superseded"] == "up"
    assert result.reasons == ("spike_through_level", "retraced")


def test_pipeline_emits_both_hunts_in_order_and_each_once():
    """The chain delivered whole with every update: a pattern is decided on the update it shows
    on (on a chain still streaming in, it would wait for the chain's observation)."""
    pipe = EnginePipeline(engines=[ENGINE])
    path = np.r_[hunt_then_opposite_hunt(), np.full(400, 25080.0)]
    fired = [
        (i, s.signal)
        for i, spot in enumerate(path)
        for s in pipe.evaluate(stamped(replace(BASE, ts=T0 + i, spot=float(spot)))).signals
    ]
    assert [sig for _, sig in fired] == ["HUNT_UP", "HUNT_DOWN"]
    assert PRE < fired[0][0] < fired[1][0] <= len(path) - 400


def test_missing_history_or_fields_never_crash():
    assert not ENGINE.evaluate(make_metrics(spot=None), EngineHistory("NIFTY")).active
    h = EngineHistory("NIFTY")
    h.update(make_metrics())
    assert not ENGINE.evaluate(make_metrics(vol_spike_ratio=None, expected_move=None), h).active


def minute_hunt() -> np.ndarray:
    """A calm 1-minute tape near 25040, one sample 55 points lower (through support at 25000, 0.22 %
    against a 0.15 % bar), then 45 points back."""
    calm = np.clip(calm_path(PRE, start=25040.0)[::60], 25030.0, 25050.0)
    return np.r_[calm, calm[-1] - 55.0, calm[-1] - 10.0, calm[-1] - 10.0]


def test_a_one_minute_spike_on_one_minute_snapshots_fires_hunt_up():
    """The spike is the move from the sample a minute before the low: the only start there is."""
    result, _, _ = run(ENGINE, minute_hunt(), base=BASE, step_s=60.0)
    assert result.signal == "HUNT_UP" and result.reasons == ("spike_through_level", "retraced")
    assert result.features["up_spike_s"] == 60.0 and result.features["up_level"] == 25000.0


def test_a_spike_is_not_evaluable_on_five_minute_snapshots():
    result, _, _ = run(ENGINE, minute_hunt(), base=BASE, step_s=300.0)
    assert not result.active and result.features["up_score"] == 0
    reason = result.features["not_evaluable"]["spike_through_level"]
    assert reason.startswith("spot sampled every ~300 s") and "2 samples within 60 s" in reason
